"""Whether a queue a worker takes is limited (taskq/flow.py): then a runner that finishes
wakes the worker's claim loop, since it may have freed a slot of that queue. The store
sends no wake-up when a slot frees; without this, the next claim would wait for the poll.

Read from the store at most once per ``every_s``, and only while claims come back empty,
so a store without limits pays one small read per poll interval of an idle worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from taskq.drivers.base import Driver
from taskq.errors import StoreUnavailable

log = logging.getLogger("taskq.worker")


class FlowHint:
    """``any()``: whether a queue among ``queues`` (None: all) has a concurrency limit."""

    def __init__(self, driver: Driver, queues: Sequence[str] | None, every_s: float) -> None:
        self.driver = driver
        self.queues = None if queues is None else frozenset(queues)
        self.every_s = every_s
        self._known = False
        self._read_at = float("-inf")

    async def any(self) -> bool:
        now = time.monotonic()
        if now - self._read_at < self.every_s:
            return self._known
        self._read_at = now
        try:
            settings = await self.driver.queue_settings()
        except StoreUnavailable as exc:
            log.debug("queue settings not read: %s", exc)
            return self._known
        self._known = any(
            s.concurrency is not None and (self.queues is None or s.name in self.queues)
            for s in settings.values()
        )
        return self._known
