"""SAQ worker side: `saq benchmarks.systems.saq_tasks.settings`."""

from __future__ import annotations

from typing import Any

from saq import Queue

from benchmarks import probe
from benchmarks.config import REDIS_URL

queue = Queue.from_url(REDIS_URL, name="bench")


async def uppercase(ctx: dict[str, Any], *, data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)


# SAQ defaults otherwise: concurrency=10, result kept on the job hash (ttl 600 s).
settings: dict[str, Any] = {"queue": queue, "functions": [uppercase], "concurrency": 10}
