"""What one GET /metrics scrape costs the store on a large table, on SQLite and PostgreSQL,
with EXPLAIN of its reads.

    .venv/bin/python -m benchmarks.metrics_scrape [--rows 1000000] [--burst-per-s 1000]
        [--postgres URL]

The table is ``store_stats``'s (20 queues, 95% finished over the last 24 hours, 5%
queued), plus a burst: the last 15 seconds (one scrape interval) of a service finishing
``--burst-per-s`` tasks a second over 20 queues x 10 actions, a tenth of them after a
retry. A scrape reads what finished and was submitted in those 15 s (the counters and
histograms), the counts by queue and status (the gauges, GET /queues' answer) and the live
workers; each part is timed on its own, then the whole, as the endpoint runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.store_stats import fill_postgres, fill_sqlite
from taskq.drivers import postgres, sqlite
from taskq.drivers.rows import LEASE_LOST
from taskq.metrics import StoreMetrics
from taskq.queue import Queue

WINDOW_S = 15.0

SQLITE_BURST = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :burst - 1)
INSERT INTO tasks (id, action, payload, queue, status, run_at, created_at, started_at,
    processed_at, attempts, errors)
SELECT printf('%08x-1111-4000-8000-%012x', i, i), 'act' || (i % 10), '{}', 'q' || (i % 20),
    CASE WHEN i % 50 = 1 THEN 'failed' ELSE 'completed' END,
    :start + i * :span / :burst, :start + i * :span / :burst,
    :start + i * :span / :burst + 0.002, :start + i * :span / :burst + 0.02,
    CASE WHEN i % 10 = 3 THEN 2 ELSE 1 END,
    CASE WHEN i % 10 = 3 THEN '[{"attempt": 1, "error": "boom", "at": 0}]' ELSE '[]' END
FROM n
"""
POSTGRES_BURST = """
INSERT INTO taskq_tasks (id, action, payload, queue, status, run_at, created_at, started_at,
    processed_at, attempts, errors)
SELECT gen_random_uuid(), 'act' || (i %% 10), '{}', 'q' || (i %% 20),
    CASE WHEN i %% 50 = 1 THEN 'failed' ELSE 'completed' END,
    %(start)s + i * %(span)s / %(burst)s, %(start)s + i * %(span)s / %(burst)s,
    %(start)s + i * %(span)s / %(burst)s + 0.002, %(start)s + i * %(span)s / %(burst)s + 0.02,
    CASE WHEN i %% 10 = 3 THEN 2 ELSE 1 END,
    CASE WHEN i %% 10 = 3 THEN '[{"attempt": 1, "error": "boom", "at": 0}]'::jsonb
        ELSE '[]'::jsonb END
FROM generate_series(0, %(burst)s - 1) AS i
"""


def burst_args(burst: int, now: float) -> dict[str, float]:
    # the burst ends a second before ``now``: a scrape reads (now - 16, now - 1]
    return {"burst": burst, "start": now - 1 - WINDOW_S, "span": WINDOW_S}


def add_burst_sqlite(path: str, burst: int, now: float) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(SQLITE_BURST, burst_args(burst, now))
        conn.execute("ANALYZE")
        explain = "EXPLAIN QUERY PLAN "
        args = {"after": 0, "until": now, "lease_lost": LEASE_LOST, "at": now}
        for name, query in (
            ("metrics_finished", sqlite.metrics.FINISHED),
            ("metrics_submitted", sqlite.metrics.SQL["metrics_submitted"]),
            ("metrics_seq_before", sqlite.metrics.SQL["metrics_seq_before"]),
        ):
            print(f"  EXPLAIN {name}:")
            for row in conn.execute(explain + query, args):
                print("   ", row[-1])


def add_burst_postgres(url: str, burst: int, now: float) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(POSTGRES_BURST, burst_args(burst, now))
        conn.execute("VACUUM ANALYZE taskq_tasks")
        (last_seq,) = conn.execute("SELECT max(seq) FROM taskq_tasks").fetchone() or (0,)
        args = {
            "after": now - 1 - WINDOW_S,
            "until": now - 1,
            "lease_lost": LEASE_LOST,
            "at": now - 1 - WINDOW_S,
        }
        for name, query, extra in (
            ("metrics_finished", postgres.metrics.FINISHED, {}),
            ("metrics_submitted", postgres.metrics.SQL["metrics_submitted"],
             {"after": last_seq - burst}),
            ("metrics_seq_before", postgres.metrics.SQL["metrics_seq_before"], {}),
        ):  # fmt: skip
            print(f"  EXPLAIN ANALYZE {name}:")
            for (line,) in conn.execute("EXPLAIN ANALYZE " + query, {**args, **extra}):
                print("   ", line)


async def timed(what: str, runs: int, call: Callable[[], Awaitable[object]]) -> None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    print(
        f"  {what}: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms over {runs} runs"
    )


async def measure(url: str, runs: int, now: float) -> None:
    async with Queue.connect(url) as queue:
        driver = queue.driver
        first_seq = await driver.seq_before(now - 1 - WINDOW_S)

        def one_window() -> StoreMetrics:
            """Metrics whose previous scrape was 15 s ago."""
            found = StoreMetrics(lag_s=now - time.time() + 1)  # reads up to now - 1
            found.finished_until = now - 1 - WINDOW_S
            found.submitted_seq = first_seq
            return found

        async def counters() -> None:
            found = await one_window().refresh(driver)
            assert sum(found.finished.values()) > 0

        async def whole() -> None:
            await one_window().refresh(driver)
            await queue.queue_stats()
            await queue.workers()

        await timed("counters and histograms (15 s of rows)", runs, counters)
        await timed(
            "first scrape's start (seq_before, 15 s back)",
            runs,
            lambda: driver.seq_before(now - 1 - WINDOW_S),
        )
        await timed("gauges: counts by queue and status", runs, queue.queue_stats)
        await timed("gauges: live workers", runs, queue.workers)
        await timed("one whole scrape", runs, whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--burst-per-s", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="an empty database's URL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    burst = int(args.burst_per_s * WINDOW_S)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "metrics.db")
            print(f"SQLite, {args.rows:,} tasks + {burst:,} finished in the last 15 s")
            fill_sqlite(path, args.rows)
            now = time.time()
            add_burst_sqlite(path, burst, now)
            asyncio.run(measure(path, args.runs, now))
    if args.postgres:
        print(f"PostgreSQL, {args.rows:,} tasks + {burst:,} finished in the last 15 s")
        fill_postgres(args.postgres, args.rows)
        now = time.time()
        add_burst_postgres(args.postgres, burst, now)
        asyncio.run(measure(args.postgres, args.runs, now))


if __name__ == "__main__":
    main()
