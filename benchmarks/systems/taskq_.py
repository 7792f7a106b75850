"""taskq itself: SQLite file, `taskq worker` processes (and an in-process worker variant)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import taskq
from benchmarks.config import WORK_DIR
from benchmarks.systems import venv_bin
from benchmarks.systems.base import BulkApi, System, WorkerSpec

DB_PATH = WORK_DIR / "taskq" / "tasks.db"
DB_URL = f"sqlite:///{DB_PATH}"
PG_DB_NAME = "bench_taskq"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_DB_NAME}"
ACTIONS = "benchmarks.systems.taskq_tasks"
# uppercase is an async action: taskq's concurrency is async slots per process, as are
# Taskiq's 100 and SAQ's 10 (Dramatiq runs 8 threads per process). taskq's defaults (2 and
# 5) are the tutorial's, sized for its 100 ms demo work, not for a throughput test.
# No prefetch: a task claimed for an idle slot is started in the claim's own statement,
# while a prefetched one needs a second write to start; 128 slots keep the claims large.
# (Measured on the 2-core machine, 60,000 tasks: 32+64 drains in 4.6-5.3 s, 128+0 in 2.9 s.)
CONCURRENCY = 128
PREFETCH = 0


def fresh_database(path: Path = DB_PATH) -> str:
    """Delete the SQLite file (and its WAL/SHM) and migrate a new one; return its URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    taskq.migrate(url)
    return url


def worker_argv(url: str, actions: str | None = ACTIONS, synchronous: str = "FULL") -> list[str]:
    argv = [
        venv_bin("taskq"),
        "worker",
        "--database",
        url,
        "--concurrency",
        str(CONCURRENCY),
        "--prefetch",
        str(PREFETCH),
        "--demo-delay-ms",
        "0",
        "--log-level",
        "warning",
        "--sqlite-synchronous",
        synchronous,
    ]
    return [*argv, "--actions", actions] if actions else argv


class Taskq(System):
    name = "taskq"
    bulk_api = BulkApi("Queue.enqueue_many(1,000 NewTask) - one commit", batched=True)
    results = "result column of the task row in the same SQLite file (kept)"
    url = DB_URL
    storage = (
        "SQLite WAL, synchronous=FULL (default): each accepted task fsynced before enqueue"
        " returns, worker bookkeeping fsynced within 20 ms (default); group commit"
    )
    synchronous = "FULL"

    def __init__(self) -> None:
        self.queue: taskq.Queue | None = None

    async def open(self) -> None:
        DB_PATH.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(taskq.migrate, self.url)  # idempotent: a stale DB gets upgraded
        self.queue = taskq.Queue.connect(self.url, sqlite_synchronous=self.synchronous)
        await self.queue.open()

    def _fresh(self) -> None:
        fresh_database()

    async def close(self) -> None:
        if self.queue is not None:
            await self.queue.close()
            self.queue = None

    async def reset(self) -> None:
        await self.close()
        await asyncio.to_thread(self._fresh)
        await self.open()

    async def enqueue(self, data: dict[str, str]) -> None:
        assert self.queue is not None
        await self.queue.enqueue("uppercase", data)

    async def enqueue_many(self, items: list[dict[str, str]]) -> None:
        assert self.queue is not None
        await self.queue.enqueue_many([taskq.NewTask(action="uppercase", data=d) for d in items])

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        return [
            WorkerSpec(worker_argv(self.url, synchronous=self.synchronous)) for _ in range(procs)
        ]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"{procs} x `taskq worker --concurrency {CONCURRENCY} --prefetch {PREFETCH}"
            " --demo-delay-ms 0`",
            "concurrency_per_process": f"concurrency={CONCURRENCY} (async slots; default 2)",
            "prefetch": f"prefetch={PREFETCH} (default 5); idle poll_interval_s=1.0 (default) "
            "across processes",
            "storage": self.storage,
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        assert self.queue is not None
        return int((await self.queue.counts()).get(taskq.Status.COMPLETED, 0))


class TaskqInProcess(Taskq):
    """Latency only: the worker runs on the producer's event loop, sharing its Queue."""

    name = "taskq-inproc"
    workloads = frozenset({"latency"})

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        return []

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"taskq.Worker(queue, concurrency={CONCURRENCY}, prefetch={PREFETCH}) "
            "in the producer's process and event loop (1 process)",
            "storage": self.storage,
            "results": self.results,
        }

    def inprocess_worker(self) -> AbstractAsyncContextManager[None]:
        return self._worker()

    @contextlib.asynccontextmanager
    async def _worker(self) -> AsyncIterator[None]:
        assert self.queue is not None
        actions = taskq.Actions.load([ACTIONS], demo_delay_ms=0)
        worker = taskq.Worker(self.queue, actions, concurrency=CONCURRENCY, prefetch=PREFETCH)
        runner = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            worker.stop()
            await runner


class TaskqNormal(Taskq):
    """taskq with ``--sqlite-synchronous NORMAL``: no fsync per commit. An accepted task
    survives a crash of the process (kill -9), not of the machine (power loss)."""

    name = "taskq-normal"
    synchronous = "NORMAL"
    storage = "SQLite WAL, synchronous=NORMAL (survives kill -9, not power loss), group commit"


class TaskqPostgres(Taskq):
    """The same adapter on taskq's PostgreSQL driver."""

    name = "taskq-pg"
    url = PG_URL
    storage = f"PostgreSQL database {PG_DB_NAME} (public schema recreated per run)"
    results = "result column of the task row in PostgreSQL (kept)"

    async def open(self) -> None:
        await asyncio.to_thread(_ensure_pg_database)
        await super().open()

    def _fresh(self) -> None:
        fresh_pg_database()


def fresh_pg_database() -> str:
    """Empty the benchmark's PostgreSQL database (made if missing) and migrate it; its URL."""
    import psycopg

    _ensure_pg_database()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    taskq.migrate(PG_URL)
    return PG_URL


def _ensure_pg_database() -> None:
    import psycopg

    from benchmarks.config import PG_ADMIN_DSN

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB_NAME,))
        if not found.fetchone():
            admin.execute(f'CREATE DATABASE "{PG_DB_NAME}"')
