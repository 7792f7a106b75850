"""Taskiq with taskiq-redis: RedisStreamBroker + RedisAsyncResultBackend."""

from __future__ import annotations

from typing import Any

from benchmarks.collect import client
from benchmarks.systems import venv_bin
from benchmarks.systems.base import System, WorkerSpec
from benchmarks.systems.taskiq_tasks import RESULT_PREFIX, broker, uppercase


class Taskiq(System):
    name = "taskiq"
    results = f"RedisAsyncResultBackend ({RESULT_PREFIX}:<id>, no expiry by default)"

    async def open(self) -> None:
        await broker.startup()

    async def close(self) -> None:
        await broker.shutdown()

    async def enqueue(self, data: dict[str, str]) -> None:
        await uppercase.kiq(data)

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [venv_bin("taskiq"), "worker", "benchmarks.systems.taskiq_tasks:broker"]
        return [WorkerSpec([*argv, "--workers", str(procs), "--log-level", "WARNING"])]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"taskiq worker --workers {procs}",
            "concurrency_per_process": "max_async_tasks=100 (default)",
            "prefetch": "XREADGROUP count=100 (default xread_count), max_prefetch=0 (default)",
            "acks": "when_saved (default: after the result is stored)",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        return sum(1 for _ in client().scan_iter(f"{RESULT_PREFIX}:*", count=1000))
