"""arq (asyncio, Redis sorted-set queue, results kept in Redis)."""

from __future__ import annotations

from typing import Any

from arq import ArqRedis, create_pool

from benchmarks.collect import client
from benchmarks.systems import venv_bin
from benchmarks.systems.arq_tasks import WorkerSettings
from benchmarks.systems.base import System, WorkerSpec


class Arq(System):
    name = "arq"
    results = "Redis key arq:result:<id> (keep_result 3600 s default)"

    def __init__(self) -> None:
        self.pool: ArqRedis | None = None

    async def open(self) -> None:
        self.pool = await create_pool(WorkerSettings.redis_settings)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()

    async def enqueue(self, data: dict[str, str]) -> None:
        assert self.pool is not None
        await self.pool.enqueue_job("uppercase", data)

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [venv_bin("arq"), "benchmarks.systems.arq_tasks.WorkerSettings"]
        return [WorkerSpec(argv) for _ in range(procs)]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"{procs} x `arq WorkerSettings` (arq has no multi-process launcher)",
            "concurrency_per_process": "max_jobs=10 (default)",
            "prefetch": "polls the queue every poll_delay=0.5 s (default) when idle",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        return sum(1 for _ in client().scan_iter("arq:result:*", count=1000))
