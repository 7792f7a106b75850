"""Scheduled actions: enqueued at each tick of their cron expression.

Every worker of a database runs this; the tick's idempotency key (``roster.tick_key``)
makes each tick one task, however many workers enqueue it, and tells ``GET /schedules``
the last tick enqueued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from taskq.errors import StoreUnavailable
from taskq.queue import Queue
from taskq.roster import next_tick, tick_key
from taskq.task import NewTask

__all__ = ["Cron", "tick_key"]

log = logging.getLogger(__name__)


class Cron:
    """Enqueues each action of ``schedules`` (action name → cron expression) at its ticks."""

    def __init__(self, queue: Queue, schedules: Mapping[str, str]) -> None:
        self.queue = queue
        self.schedules = dict(schedules)

    def next_tick(self, name: str, after: float) -> float:
        """The first tick of ``name``'s schedule after ``after``."""
        return next_tick(self.schedules[name], after)

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
