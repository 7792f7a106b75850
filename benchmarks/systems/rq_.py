"""RQ with its default Worker class (forks a work horse per job); results kept in Redis."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue

from benchmarks.config import REDIS_URL
from benchmarks.systems import venv_bin
from benchmarks.systems.base import BulkApi, System, WorkerSpec
from benchmarks.systems.rq_tasks import uppercase


class RQ(System):
    name = "rq"
    bulk_api = BulkApi("Queue.enqueue_many(1,000 prepare_data) - one pipeline", batched=True)
    results = "job hash + results stream in Redis (result_ttl 500 s default)"

    def __init__(self) -> None:
        self.queue = Queue("bench", connection=Redis.from_url(REDIS_URL))

    async def enqueue(self, data: dict[str, str]) -> None:
        self.queue.enqueue(uppercase, data)

    async def enqueue_many(self, items: list[dict[str, str]]) -> None:
        self.queue.enqueue_many([Queue.prepare_data(uppercase, args=(d,)) for d in items])

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [venv_bin("rq"), "worker", "bench", "--url", REDIS_URL, "--quiet"]
        # The default worker forks a child per job, so the probe must write synchronously.
        return [WorkerSpec(argv, {"BENCH_PROBE_SYNC": "1"}) for _ in range(procs)]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"{procs} x `rq worker bench` (default rq.Worker: fork per job)",
            "concurrency_per_process": 1,
            "prefetch": "none (BLMOVE/BLPOP one job at a time)",
            "probe": "writes to Redis synchronously after each job (fork per job)",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        return int(self.queue.finished_job_registry.count)
