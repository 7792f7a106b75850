"""Huey worker side: `huey_consumer benchmarks.systems.huey_tasks.huey`."""

from __future__ import annotations

from huey import RedisHuey

from benchmarks import probe
from benchmarks.config import REDIS_URL

# Defaults: results=True (stored in Redis), blocking=True (BRPOP, read_timeout=1s).
huey = RedisHuey("bench", url=REDIS_URL)


@huey.task(name="uppercase")
def uppercase(data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)
