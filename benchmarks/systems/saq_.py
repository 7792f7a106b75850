"""SAQ with its Redis queue (results kept on the job)."""

from __future__ import annotations

from typing import Any

from benchmarks.collect import client
from benchmarks.systems import venv_bin
from benchmarks.systems.base import System, WorkerSpec
from benchmarks.systems.saq_tasks import queue


class Saq(System):
    name = "saq"
    results = "job hash saq:job:bench:<key> in Redis (result field; ttl 600 s default)"

    async def open(self) -> None:
        await queue.connect()

    async def close(self) -> None:
        await queue.disconnect()

    async def enqueue(self, data: dict[str, str]) -> None:
        await queue.enqueue("uppercase", data=data)

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [venv_bin("saq"), "benchmarks.systems.saq_tasks.settings", "--quiet"]
        return [WorkerSpec([*argv, "--workers", str(procs)])]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"saq --workers {procs}",
            "concurrency_per_process": "concurrency=10 (default)",
            "prefetch": "none beyond concurrency (BLMOVE per free slot)",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        return sum(1 for _ in client().scan_iter("saq:job:bench:*", count=1000))
