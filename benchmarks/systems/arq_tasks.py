"""arq worker side: `arq benchmarks.systems.arq_tasks.WorkerSettings`."""

from __future__ import annotations

from typing import Any, ClassVar

from arq.connections import RedisSettings

from benchmarks import probe
from benchmarks.config import REDIS_URL


async def uppercase(ctx: dict[str, Any], data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)


class WorkerSettings:
    functions: ClassVar[list[Any]] = [uppercase]
    redis_settings = RedisSettings.from_dsn(REDIS_URL)
    # Everything else is arq's default: max_jobs=10, poll_delay=0.5 s, keep_result=3600 s.
