"""Cancel requests of running tasks: the worker polls for them and stops those attempts.

A cancel is written to the task's row by whoever asked (the API, another process); the
worker running the task learns of it within ``interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from taskq.drivers.base import Driver
from taskq.errors import StoreUnavailable
from taskq.logs import task_fields
from taskq.worker.attempt import CANCELLED, Attempt

log = logging.getLogger(__name__)


class Cancellations:
    """Stops the attempts in ``running`` (by task id) whose task was cancelled."""

    def __init__(
        self, driver: Driver, worker_id: str, running: Mapping[str, Attempt], *, interval_s: float
    ) -> None:
        self.driver = driver
        self.worker_id = worker_id
        self.running = running
        self.interval_s = interval_s

    async def check(self) -> None:
        """Ask the store once which running tasks were cancelled, and stop them."""
        if not self.running:
            return
        try:
            requested = await self.driver.cancel_requests(self.worker_id)
        except StoreUnavailable as exc:
            log.warning("could not check for cancellations: %s", exc)
            return
        for task_id in requested:
            if attempt := self.running.get(task_id):
                log.info(
                    "task %s cancelled while running: stopping it",
                    task_id,
                    extra=task_fields(attempt.task),
                )
                attempt.request_stop(CANCELLED)

    async def watch(self) -> None:
        """Check every ``interval_s``, forever."""
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()
