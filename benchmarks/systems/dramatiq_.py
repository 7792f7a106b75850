"""Dramatiq 2 with its Redis broker and the Redis Results middleware."""

from __future__ import annotations

from typing import Any

from benchmarks.collect import client
from benchmarks.systems import venv_bin
from benchmarks.systems.base import BulkApi, System, WorkerSpec
from benchmarks.systems.dramatiq_tasks import uppercase

THREADS = 8  # dramatiq's CLI default


class Dramatiq(System):
    name = "dramatiq"
    bulk_api = BulkApi("group([...1,000 messages]).run()", batched=False)
    results = "Results middleware, RedisBackend (opt-in in Dramatiq; result_ttl 10 min)"

    async def enqueue(self, data: dict[str, str]) -> None:
        uppercase.send(data)

    async def enqueue_many(self, items: list[dict[str, str]]) -> None:
        from dramatiq import group

        group([uppercase.message(d) for d in items]).run()

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [venv_bin("dramatiq"), "benchmarks.systems.dramatiq_tasks"]
        return [WorkerSpec([*argv, "--processes", str(procs), "--threads", str(THREADS)])]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"dramatiq --processes {procs} --threads {THREADS} (threads: CLI default)",
            "concurrency_per_process": THREADS,
            "prefetch": f"{THREADS * 2} messages per process (dramatiq default threads*2)",
            "acks": "after the actor finishes (Redis broker default)",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        r = client()
        return sum(1 for _ in r.scan_iter("dramatiq-results:*", count=1000))
