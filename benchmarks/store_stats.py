"""What GET /stats and GET /queues cost on a large table: one computation of each (the
API computes each at most once per second per process), on N tasks in SQLite and
PostgreSQL, with EXPLAIN of the whole-table counts.

    .venv/bin/python -m benchmarks.store_stats [--rows 1000000] [--postgres URL]

The table: 20 queues; 90% completed and 5% failed with ``processed_at`` spread over the
last 24 hours (so a 15-minute window holds ~1% of them), 5% queued.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from taskq import migrations
from taskq.drivers.statements import load
from taskq.queue import Queue

# one generated row per n: 0..N-1
SQLITE_FILL = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :rows - 1)
INSERT INTO tasks (id, action, payload, queue, status, run_at, created_at, started_at,
    processed_at, attempts)
SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'a', '{}', 'q' || (i % 20),
    CASE WHEN i % 20 = 0 THEN 'queued' WHEN i % 20 = 1 THEN 'failed' ELSE 'completed' END,
    :now - 86400 + i * 86400.0 / :rows, :now - 86400 + i * 86400.0 / :rows,
    CASE WHEN i % 20 = 0 THEN NULL ELSE :now - 86400 + i * 86400.0 / :rows + 0.01 END,
    CASE WHEN i % 20 = 0 THEN NULL ELSE :now - 86400 + i * 86400.0 / :rows + 0.05 END,
    CASE WHEN i % 20 = 0 THEN 0 ELSE 1 END
FROM n
"""
POSTGRES_FILL = """
INSERT INTO taskq_tasks (id, action, payload, queue, status, run_at, created_at, started_at,
    processed_at, attempts)
SELECT gen_random_uuid(), 'a', '{}', 'q' || (i %% 20),
    CASE WHEN i %% 20 = 0 THEN 'queued' WHEN i %% 20 = 1 THEN 'failed' ELSE 'completed' END,
    %(now)s - 86400 + i * 86400.0 / %(rows)s, %(now)s - 86400 + i * 86400.0 / %(rows)s,
    CASE WHEN i %% 20 = 0 THEN NULL ELSE %(now)s - 86400 + i * 86400.0 / %(rows)s + 0.01 END,
    CASE WHEN i %% 20 = 0 THEN NULL ELSE %(now)s - 86400 + i * 86400.0 / %(rows)s + 0.05 END,
    CASE WHEN i %% 20 = 0 THEN 0 ELSE 1 END
FROM generate_series(0, %(rows)s - 1) AS i
"""


def fill_sqlite(path: str, rows: int) -> None:
    migrations.migrate(path)
    with sqlite3.connect(path) as conn:
        conn.execute(SQLITE_FILL, {"rows": rows, "now": time.time()})
        conn.execute("ANALYZE")
    with sqlite3.connect(path) as conn:
        counts = load("taskq.drivers.sqlite")["queue_counts"]
        for row in conn.execute("EXPLAIN QUERY PLAN " + counts, {"limit": 1001}):
            print("   ", row[-1])


def fill_postgres(url: str, rows: int) -> None:
    import psycopg

    migrations.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE taskq_tasks")
        conn.execute(POSTGRES_FILL, {"rows": rows, "now": time.time()})
        conn.execute("VACUUM ANALYZE taskq_tasks")
        counts = load("taskq.drivers.postgres")["queue_counts"]
        for (line,) in conn.execute("EXPLAIN ANALYZE " + counts, {"limit": 1001}):
            print("   ", line)


async def measure(url: str, runs: int) -> None:
    async with Queue.connect(url) as queue:
        for name, call in (("GET /stats", queue.stats), ("GET /queues", queue.queue_stats)):
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                await call()
                times.append(time.perf_counter() - start)
            print(
                f"  {name}: median {statistics.median(times) * 1000:.0f} ms, "
                f"max {max(times) * 1000:.0f} ms over {runs} runs"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="an empty database's URL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "stats.db")
            print(f"SQLite, {args.rows:,} tasks")
            fill_sqlite(path, args.rows)
            asyncio.run(measure(path, args.runs))
    if args.postgres:
        print(f"PostgreSQL, {args.rows:,} tasks")
        fill_postgres(args.postgres, args.rows)
        asyncio.run(measure(args.postgres, args.runs))


if __name__ == "__main__":
    main()
