"""Celery worker side: `celery -A benchmarks.systems.celery_tasks worker`."""

from __future__ import annotations

from celery import Celery

from benchmarks import probe
from benchmarks.config import REDIS_URL

app = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_acks_late=True,  # required by the benchmark brief
    task_default_queue="bench",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="uppercase")
def uppercase(data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)
