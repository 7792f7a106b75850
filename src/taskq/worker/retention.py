"""Retention: finished tasks older than the retention are deleted by the workers themselves.

In batches, so one prune never holds the store's write lock for long.
"""

from __future__ import annotations

import asyncio
import logging
import time

from taskq.drivers.base import Driver
from taskq.errors import StoreUnavailable

log = logging.getLogger(__name__)

PRUNE_BATCH = 1000


class Retention:
    """Prunes tasks finished more than ``retention_s`` ago, every ``interval_s``."""

    def __init__(
        self, driver: Driver, *, retention_s: float, interval_s: float, batch: int = PRUNE_BATCH
    ) -> None:
        self.driver = driver
        self.retention_s = retention_s
        self.interval_s = interval_s
        self.batch = batch

    async def prune(self) -> int:
        """Delete every task finished before the retention, batch by batch; how many."""
        before = time.time() - self.retention_s
        pruned = 0
        while True:
            n = await self.driver.prune(before=before, limit=self.batch)
            pruned += n
            if n < self.batch:  # the last batch
                return pruned

    async def run(self) -> None:
        """Prune now and every ``interval_s``, forever; a retention of 0 keeps everything."""
        if self.retention_s <= 0:
            return
        while True:
            try:
                if await self.prune():
                    log.info("pruned finished tasks older than %.0f days", self.retention_s / 86400)
            except StoreUnavailable as exc:
                log.warning("pruning failed: %s", exc)
            await asyncio.sleep(self.interval_s)
