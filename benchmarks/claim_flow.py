"""What flow control (taskq/flow.py) costs a claim, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.claim_flow [--tasks 20000] [--batch 64] [--reps 3]
        [--postgres URL]

Each run stores ``--tasks`` ready tasks, then claims them ``--batch`` at a time (all
started, as for idle runners) and completes each batch, timing the claims only. The
variants, interleaved rep by rep so the machine's drift hits them alike:

* ``before``: the claim as it was before flow control (SQLite: the plain statement with no
  read of the queues table; PostgreSQL: the old statement, ``claim_plain`` without its
  filter, every claim);
* ``no settings``: today's claim on a store with no queues row (what every user without
  flow control runs; on PostgreSQL the plain statement, ``claim_plain``);
* ``other queues set``: a paused and a limited queue exist, but the tasks are in another;
* ``limited``: every task in a queue limited to ``--batch`` (the limited path, its lock);
* ``rated``: every task in a queue with a rate limit it never reaches (1,000,000/s): the
  limited path, and a start recorded per task;
* ``keyed``: every task with a concurrency key, 1,000 keys in turn (one of each may run):
  the keyed path, a key's lock and count per key started.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

import taskq
from taskq.drivers.postgres import driver as pg_driver
from taskq.drivers.postgres.worker_commit import bookkeeping
from taskq.drivers.sqlite import flow as sqlite_flow
from taskq.flow import Rate
from taskq.queue import Queue
from taskq.task import NewTask

VARIANTS = ("before", "no settings", "other queues set", "limited", "rated", "keyed")


@contextmanager
def _patched(claims: AbstractContextManager[Any], held_back: type[Any]) -> Iterator[None]:
    with claims, mock.patch.object(held_back, "maybe", return_value=True):
        yield


def _before(database: str) -> AbstractContextManager[Any]:
    if database.startswith("postgresql"):
        # the statement before flow control is claim_plain without its one-time filter
        old = {
            ready: bookkeeping(
                "claim_plain",
                ready=pg_driver.SQL[ready].format(held_back="TRUE").strip(),
                t_columns=pg_driver.T_COLUMNS,
            )
            for ready in pg_driver.CLAIM
        }
        # every claim the old statement, with no plain statement tried first
        return _patched(mock.patch.dict(pg_driver.CLAIM, old), pg_driver.flow.HeldBack)

    def plain(conn: Any, query: str, args: dict[str, Any], queues: Any) -> list[Any]:
        return conn.execute(query, args).fetchall()  # type: ignore[no-any-return]

    return mock.patch.object(sqlite_flow, "claim", plain)


async def one_run(database: str, variant: str, tasks: int, batch: int) -> float:
    """Median µs per claim call of one drain of ``tasks``."""
    queue_name = "lim" if variant in ("limited", "rated") else "default"
    patch: Callable[[str], AbstractContextManager[Any]] = (
        _before if variant == "before" else lambda _: nullcontext()
    )
    async with Queue.connect(database) as queue:
        driver = queue.driver
        now = time.time()
        if variant == "other queues set":
            await driver.update_queue("paused-one", paused=True, now=now)
            await driver.update_queue("limited-one", concurrency=4, now=now)
        if variant == "limited":
            await driver.update_queue("lim", concurrency=batch, now=now)
        if variant == "rated":
            await driver.update_queue("lim", rate=Rate(1_000_000, 1.0), now=now)
        for start in range(0, tasks, 1000):
            count = min(1000, tasks - start)
            keys = [f"k{(start + i) % 1000}" if variant == "keyed" else None for i in range(count)]
            await driver.enqueue(
                [NewTask(action="a", queue=queue_name, concurrency_key=k) for k in keys], now=now
            )
        timings: list[float] = []
        with patch(database):
            while True:
                t0 = time.perf_counter()
                claimed = await driver.claim(
                    "bench", batch, queues=None, lease_s=60, now=time.time(), start=batch
                )
                timings.append(time.perf_counter() - t0)
                if not claimed.started:
                    break
                await asyncio.gather(
                    *(driver.complete(t.id, "bench", "{}", now=time.time()) for t in claimed)
                )
        return statistics.median(timings) * 1e6


def fresh_postgres(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for variant in VARIANTS:
                for store in ("sqlite", "postgres"):
                    name = f"claim_flow_{rep}_{VARIANTS.index(variant)}"
                    if store == "sqlite":
                        database = str(Path(tmp) / f"{name}.db")
                    else:
                        database = fresh_postgres(args.postgres, name)
                    taskq.migrate(database)
                    took = asyncio.run(one_run(database, variant, args.tasks, args.batch))
                    results.setdefault((store, variant), []).append(took)
                    print(f"rep {rep} {store:8} {variant:16} {took:8.0f} µs per claim", flush=True)
    print(f"\nmedian µs per claim of {args.batch} (min-max over {args.reps} runs):")
    for (store, variant), values in results.items():
        print(
            f"  {store:8} {variant:16} {statistics.median(values):7.0f}"
            f" [{min(values):.0f}-{max(values):.0f}]"
        )


if __name__ == "__main__":
    main()
