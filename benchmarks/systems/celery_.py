"""Celery 5 with the Redis broker and Redis result backend, acks_late=True."""

from __future__ import annotations

from typing import Any

from benchmarks.collect import client
from benchmarks.systems import venv_bin
from benchmarks.systems.base import BulkApi, System, WorkerSpec
from benchmarks.systems.celery_tasks import app, uppercase


class Celery(System):
    name = "celery"
    bulk_api = BulkApi("group(1,000 signatures).apply_async()", batched=False)
    results = "Redis result backend (celery-task-meta-<id>, expires after 1 day)"

    async def open(self) -> None:
        app.connection_for_write().ensure_connection()

    async def enqueue(self, data: dict[str, str]) -> None:
        uppercase.delay(data)

    async def enqueue_many(self, items: list[dict[str, str]]) -> None:
        from celery import group

        group(uppercase.s(d) for d in items).apply_async()

    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        argv = [venv_bin("celery"), "-A", "benchmarks.systems.celery_tasks", "worker"]
        opts = ["--pool", "prefork", "--concurrency", str(procs), "--loglevel", "WARNING"]
        return [WorkerSpec([*argv, *opts])]

    def settings(self, procs: int) -> dict[str, Any]:
        return {
            "worker": f"celery worker --pool prefork --concurrency {procs} (1 master + {procs} "
            "children)",
            "concurrency_per_process": 1,
            "prefetch": f"worker_prefetch_multiplier=4 (default) -> {4 * procs} unacked messages",
            "acks": "task_acks_late=True",
            "other": "mingle/gossip/heartbeat left at defaults; JSON serializer (default)",
            "results": self.results,
        }

    async def count_results(self) -> int | None:
        return sum(1 for _ in client().scan_iter("celery-task-meta-*", count=1000))
