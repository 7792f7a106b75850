"""What unique keys (NewTask.unique_key, migration 0008) cost, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.unique_cost [--tasks 20000] [--reps 3] [--postgres URL]

Each run stores ``--tasks`` tasks in calls of 1,000 (``Queue.enqueue_many``), then drains
them: claims of 64, all started, each completed (``driver.complete``). It reports µs per
task for the enqueue and for the drain (wall clock, this process waiting on the store
included). The variants, interleaved rep by rep so the machine's drift hits them alike:

* ``no index``: the store as before migration 0008 (its two indexes dropped; on SQLite
  the insert without its second ON CONFLICT clause, which names the dropped index);
* ``no keys``: today's store, tasks without a unique key (what every user who does not use
  them runs): the indexes' predicates are checked on each insert and status change;
* ``every key``: today's store, every task with a unique key of its own (each insert and
  status change of a keyed row updates the indexes).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import taskq
from benchmarks.claim_flow import fresh_postgres
from taskq.drivers import is_postgres_url
from taskq.drivers.sqlite import merged
from taskq.queue import Queue
from taskq.task import NewTask

VARIANTS = ("no index", "no keys", "every key")
BATCH = 64


def drop_indexes(database: str) -> None:
    if is_postgres_url(database):
        import psycopg

        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DROP INDEX taskq_tasks_unique_active, taskq_tasks_unique_key")
    else:
        with sqlite3.connect(database) as conn:
            conn.execute("DROP INDEX tasks_unique_active")
            conn.execute("DROP INDEX tasks_unique_key")


@contextmanager
def insert_before_0008() -> Iterator[None]:
    statement = merged.SQL["insert"]
    merged.SQL["insert"] = statement[: statement.index("ON CONFLICT (unique_key)")]
    merged._with_rows.cache_clear()
    try:
        yield
    finally:
        merged.SQL["insert"] = statement
        merged._with_rows.cache_clear()


async def one_run(database: str, variant: str, tasks: int) -> tuple[float, float]:
    """µs per task to enqueue ``tasks``, then to drain them."""
    async with Queue.connect(database) as queue:
        driver = queue.driver
        keyed = variant == "every key"
        t0 = time.perf_counter()
        for start in range(0, tasks, 1000):
            news = [
                NewTask(action="a", unique_key=f"k{n}" if keyed else None)
                for n in range(start, min(tasks, start + 1000))
            ]
            await queue.enqueue_many(news)
        enqueued = time.perf_counter() - t0
        t0 = time.perf_counter()
        while True:
            claimed = await driver.claim(
                "bench", BATCH, queues=None, lease_s=60, now=time.time(), start=BATCH
            )
            if not claimed.started:
                break
            await asyncio.gather(
                *(driver.complete(t.id, "bench", "{}", now=time.time()) for t in claimed)
            )
        drained = time.perf_counter() - t0
        return enqueued / tasks * 1e6, drained / tasks * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for variant in VARIANTS:
                for store in ("sqlite", "postgres"):
                    name = f"unique_cost_{rep}_{VARIANTS.index(variant)}"
                    if store == "sqlite":
                        database = str(Path(tmp) / f"{name}.db")
                    else:
                        database = fresh_postgres(args.postgres, name)
                    taskq.migrate(database)
                    if variant == "no index":
                        drop_indexes(database)
                        with insert_before_0008():
                            took = asyncio.run(one_run(database, variant, args.tasks))
                    else:
                        took = asyncio.run(one_run(database, variant, args.tasks))
                    results.setdefault((store, variant), []).append(took)
                    print(
                        f"rep {rep} {store:8} {variant:10} enqueue {took[0]:6.1f}"
                        f"  drain {took[1]:6.1f} µs per task",
                        flush=True,
                    )
    print(f"\nmedian µs per task over {args.reps} runs (enqueue, drain):")
    for (store, variant), values in results.items():
        enqueue = statistics.median(v[0] for v in values)
        drain = statistics.median(v[1] for v in values)
        print(f"  {store:8} {variant:10} {enqueue:6.1f} {drain:7.1f}")


if __name__ == "__main__":
    main()
