"""Taskiq worker side: `taskiq worker benchmarks.systems.taskiq_tasks:broker`."""

from __future__ import annotations

from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from benchmarks import probe
from benchmarks.config import REDIS_URL

RESULT_PREFIX = "taskiq-result"

# RedisStreamBroker is taskiq-redis's README default (acknowledged delivery via streams).
broker = RedisStreamBroker(url=REDIS_URL, queue_name="taskiq-bench").with_result_backend(
    RedisAsyncResultBackend(redis_url=REDIS_URL, prefix_str=RESULT_PREFIX)
)


@broker.task(task_name="uppercase")
async def uppercase(data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)
