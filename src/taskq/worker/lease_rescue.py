"""Leases: keeping this worker's alive, and handing on the tasks of workers that are gone.

Every task a worker holds is leased. Its heartbeat renews the leases of the tasks it
really holds (every ``lease_s/3``), so a healthy long task is never taken over; a row it
lost track of (a claim whose answer never came) is not renewed, lapses, and is recovered
like a dead worker's. A worker on this host that died is known dead at once by its pid.

The same beat keeps the worker's row in the workers table fresh (``GET /workers``), and
deletes the rows of workers that stopped beating (taskq/roster.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence, Set

import msgspec

from taskq.drivers.base import Driver
from taskq.errors import StoreUnavailable
from taskq.events import Events
from taskq.roster import WorkerInfo
from taskq.worker.identity import is_dead_local_worker

log = logging.getLogger(__name__)


class LeaseRescue:
    """The heartbeat of worker ``worker_id`` over the ids in ``held``, and the recovery of
    lapsed leases and dead local workers' tasks. With ``announced`` (the worker's row, as
    it announced itself), the beat also moves the row's ``last_seen`` on."""

    def __init__(
        self,
        driver: Driver,
        worker_id: str,
        held: Set[str],
        *,
        lease_s: float,
        max_attempts: int,
        local_death_check_s: float = 1.0,
        announced: WorkerInfo | None = None,
        events: Events | None = None,
    ) -> None:
        self.driver = driver
        self.worker_id = worker_id
        self.held = held
        self.lease_s = lease_s
        self.max_attempts = max_attempts  # for tasks that set none: recovery counts attempts
        self.local_death_check_s = local_death_check_s
        self.announced = announced
        self.events = events

    async def recover(self, *, dead_worker_ids: Sequence[str] = ()) -> int:
        """Requeue (or fail, out of attempts) lapsed leases' tasks and dead workers'."""
        n = await self.driver.recover(
            now=time.time(), default_max_attempts=self.max_attempts, dead_worker_ids=dead_worker_ids
        )
        if n and self.events is not None:
            self.events.resync(f"{n} tasks recovered from lost workers")
        return n

    async def recover_at_start(self) -> None:
        """Recover lapsed leases, and every task of the dead workers on this host."""
        if n := await self.recover(dead_worker_ids=await self.dead_local_workers()):
            log.warning("recovered %d tasks from lost workers", n)

    async def beat(self) -> None:
        """Renew the held tasks' leases and say this worker is alive, then recover lapsed
        leases."""
        now = time.time()
        if self.held:
            await self.driver.renew_leases(
                self.worker_id, list(self.held), lease_s=self.lease_s, now=now
            )
        announced = self.announced
        if announced is not None and not await self.driver.beat(self.worker_id, now=now):
            # forgotten while it could not beat (the store was out for longer than lease_s)
            await self.driver.announce(msgspec.structs.replace(announced, last_seen=now))
        if n := await self.recover():
            log.warning("recovered %d tasks from lost workers", n)

    async def heartbeat(self) -> None:
        """Beat every ``lease_s/3``, forever."""
        interval_s = self.lease_s / 3
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.beat()
            except StoreUnavailable as exc:
                log.warning("heartbeat failed: %s", exc)

    async def dead_local_workers(self) -> list[str]:
        """Ids of the workers holding tasks whose process on this host no longer runs."""
        return [w for w in await self.driver.held_worker_ids() if is_dead_local_worker(w)]

    async def rescue_dead_local_workers(self) -> None:
        """Recover the tasks of dead local workers, if any: a read, and a write only when
        there is something to recover."""
        if dead := await self.dead_local_workers():
            n = await self.recover(dead_worker_ids=dead)
            log.warning("recovered %d tasks of dead local workers %s", n, dead)

    async def watch_local_deaths(self) -> None:
        """A worker process on this host that died (kill -9, OOM, a hard exit with a stuck
        handler) is known dead at once: recover its tasks now, not when its lease lapses."""
        while True:
            await asyncio.sleep(self.local_death_check_s)
            try:
                await self.rescue_dead_local_workers()
            except StoreUnavailable as exc:
                log.warning("could not check for dead local workers: %s", exc)
