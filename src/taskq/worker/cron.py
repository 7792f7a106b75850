"""Scheduled actions: enqueued at each tick of their cron expression.

Every worker of a database runs this; the tick's idempotency key makes each tick one
task, however many workers enqueue it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from croniter import croniter

from taskq.errors import StoreUnavailable
from taskq.queue import Queue
from taskq.task import NewTask

log = logging.getLogger(__name__)


def tick_key(name: str, tick: float) -> str:
    """The idempotency key of action ``name``'s tick at ``tick`` (epoch seconds)."""
    return f"cron:{name}:{tick:.0f}"


class Cron:
    """Enqueues each action of ``schedules`` (action name → cron expression) at its ticks."""

    def __init__(self, queue: Queue, schedules: Mapping[str, str]) -> None:
        self.queue = queue
        self.schedules = dict(schedules)

    def next_tick(self, name: str, after: float) -> float:
        """The first tick of ``name``'s schedule after ``after``."""
        return float(croniter(self.schedules[name], after).get_next(float))

    async def enqueue(self, name: str, tick: float) -> None:
        """Enqueue ``name``'s task for ``tick``, unless some worker already did."""
        key = tick_key(name, tick)
        await self.queue.enqueue_many([NewTask(action=name, idempotency_key=key)])

    async def run(self) -> None:
        """Enqueue at every tick, forever (nothing to do without schedules)."""
        if not self.schedules:
            return
        next_tick = {name: self.next_tick(name, time.time()) for name in self.schedules}
        while True:
            name, tick = min(next_tick.items(), key=lambda item: item[1])
            await asyncio.sleep(max(0.0, tick - time.time()))
            try:
                await self.enqueue(name, tick)
            except StoreUnavailable as exc:
                log.warning("could not enqueue scheduled %s: %s", name, exc)
            next_tick[name] = self.next_tick(name, tick)
