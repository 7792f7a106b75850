"""Huey 3 with RedisHuey (Redis list queue, Redis result store)."""

from __future__ import annotations

from typing import Any

from benchmarks.systems import venv_bin
from benchmarks.systems.base import BulkApi, System, WorkerSpec
from benchmarks.systems.huey_tasks import huey, uppercase


class Huey(System):
    name = "huey"
    bulk_api = BulkApi("task.map(1,000 items)", batched=False)
    results = "Redis result store (huey default results=True); read once by default"

    async def enqueue(self, data: dict[str, str]) -> None:
        uppercase(data)

    async def enqueue_many(self, items: list[dict[str, str]]) -> None:
        uppercase.map(items)

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [venv_bin("huey_consumer"), "benchmarks.systems.huey_tasks.huey"]
        return [WorkerSpec([*argv, "--workers", str(procs), "--worker-type", "process"])]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"huey_consumer -w {procs} -k process (1 consumer + {procs} worker procs)",
            "concurrency_per_process": 1,
            "prefetch": "none (each worker BRPOPs one task)",
            "storage": "RedisHuey(blocking=True, read_timeout=1)",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        return int(huey.result_count())
