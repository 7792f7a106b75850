"""Dramatiq worker side: `dramatiq benchmarks.systems.dramatiq_tasks`."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

from benchmarks import probe
from benchmarks.config import REDIS_URL

broker = RedisBroker(url=REDIS_URL)
# Results are opt-in in Dramatiq; enabled so the return value is stored like the other systems.
broker.add_middleware(Results(backend=RedisBackend(url=REDIS_URL, use_namespace_prefix_keys=True)))
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="uppercase", queue_name="bench", store_results=True)
def uppercase(data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)
