"""The consumer loop: claim tasks, run their actions, record what came of them.

One claimer keeps at most ``concurrency + prefetch`` tasks in hand (running or waiting
in the local buffer); ``concurrency`` runners take from the buffer. Every task in hand
is leased; a heartbeat renews the leases, so a healthy long task is never taken over,
while a dead worker's tasks are recovered by whichever worker notices the lapse first.
The chores (leases, cancellations, retention, schedules) each live in their own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import traceback
from collections.abc import Coroutine, Sequence
from typing import Any

from taskq import tracing
from taskq.actions import Actions, Fail, Retry
from taskq.config import Settings
from taskq.errors import StoreUnavailable
from taskq.logs import task_fields
from taskq.queue import Queue
from taskq.roster import WorkerInfo
from taskq.task import Status, Task
from taskq.tracing import NO_TRACING, Tracing
from taskq.worker.attempt import Attempts, AttemptStopped
from taskq.worker.buffer import Buffer
from taskq.worker.cancellations import Cancellations
from taskq.worker.cron import Cron
from taskq.worker.flow_hint import FlowHint
from taskq.worker.identity import HOSTNAME, new_worker_id
from taskq.worker.lease_rescue import LeaseRescue
from taskq.worker.outcomes import Outcomes, attempt_error
from taskq.worker.retention import Retention
from taskq.worker.retry import RetryDefaults

log = logging.getLogger(__name__)


class Worker:
    """Runs tasks from a queue until ``stop()``."""

    def __init__(
        self,
        queue: Queue,
        actions: Actions,
        *,
        concurrency: int = 2,
        prefetch: int = 5,
        queues: Sequence[str] | None = None,
        max_attempts: int = 3,
        lease_s: float = 30.0,
        poll_interval_s: float = 1.0,
        grace_s: float = 30.0,
        cancel_grace_s: float = 5.0,
        cancel_poll_s: float = 0.5,
        backoff_base_s: float = 1.0,
        retention_s: float = 7 * 86400.0,
        prune_interval_s: float = 60.0,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if prefetch < 0:
            raise ValueError("prefetch must be at least 0")
        self.queue = queue
        self.driver = queue.driver
        self.actions = actions
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.queues = list(queues) if queues else None
        self.max_attempts = max_attempts
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.grace_s = grace_s
        self.cancel_grace_s = cancel_grace_s
        self.cancel_poll_s = cancel_poll_s
        self.backoff_base_s = backoff_base_s
        self.retention_s = retention_s
        self.prune_interval_s = prune_interval_s
        self.tracing = tracing
        self.local_death_check_s = 1.0
        self.id = new_worker_id()
        self._buffer = Buffer()
        self._in_hand = 0  # claimed: buffered or executing
        # ids of the tasks whose rows this worker owns: what its heartbeat renews
        self._held: set[str] = set()
        self._executing = 0
        self._lingering: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        # whether a queue this worker takes is limited (taskq/flow.py), read at most once
        # per poll interval while claims come back empty
        self._limited = FlowHint(queue.driver, self.queues, poll_interval_s)
        self._attempts = Attempts(concurrency=concurrency, cancel_grace_s=cancel_grace_s)
        retry = RetryDefaults(max_attempts=max_attempts, backoff_base_s=backoff_base_s)
        self.events = queue.events
        self._outcomes = Outcomes(
            self.driver, self.events, self.id, self._held, lease_s=lease_s, retry=retry
        )

    @classmethod
    def from_settings(cls, queue: Queue, settings: Settings) -> Worker:
        """A worker configured by ``settings``, with the demo and ``--actions`` actions."""
        actions = Actions.load(settings.actions, demo_delay_ms=settings.demo_delay_ms)
        return cls(
            queue,
            actions.with_schedules(settings.cron),
            concurrency=settings.concurrency,
            prefetch=settings.prefetch,
            queues=settings.queues,
            max_attempts=settings.max_attempts,
            lease_s=settings.lease_s,
            poll_interval_s=settings.poll_interval_s,
            grace_s=settings.grace_s,
            cancel_grace_s=settings.cancel_grace_s,
            retention_s=settings.retention_days * 86400,
            tracing=tracing.from_settings(settings),
        )

    def stop(self) -> None:
        """Stop claiming; running tasks get ``grace_s`` to finish. Safe to call twice."""
        if self._outcomes.give_up_at is None:  # past it, refused writes are given up
            self._outcomes.give_up_at = time.monotonic() + self.grace_s
        self._stopping.set()
        self._room.set()

    @property
    def is_stopping(self) -> bool:
        """True once ``stop()`` was called (or the run ended)."""
        return self._stopping.is_set()

    @property
    def schedules(self) -> dict[str, str]:
        """The cron schedules this worker enqueues: action name → expression."""
        return {a.name: a.cron for a in self.actions.scheduled if a.cron}

    def announcement(self, now: float) -> WorkerInfo:
        """This worker's row in the workers table, as of ``now`` (``GET /workers``)."""
        return WorkerInfo(
            id=self.id,
            host=HOSTNAME,
            pid=os.getpid(),
            queues=self.queues,
            concurrency=self.concurrency,
            lease_s=self.lease_s,
            schedules=self.schedules,
            started_at=now,
            last_seen=now,
        )

    async def run(self) -> None:
        """Recover dead local workers' tasks, announce this worker, then consume until
        stopped; a clean stop retires the announcement."""
        log.info(
            "worker %s started: concurrency=%d prefetch=%d queues=%s",
            self.id,
            self.concurrency,
            self.prefetch,
            ",".join(self.queues or ["*"]),
        )
        announced = self.announcement(time.time())
        leases = LeaseRescue(
            self.driver,
            self.id,
            self._held,
            lease_s=self.lease_s,
            max_attempts=self.max_attempts,
            local_death_check_s=self.local_death_check_s,
            announced=announced,
            events=self.events,
        )
        await leases.recover_at_start()
        await self.driver.listen_for_work()  # before the first claim: nothing falls between
        await self.driver.announce(announced)
        self.events.worker("joined", self.id, at=time.time())
        runners = [asyncio.create_task(self._run_tasks()) for _ in range(self.concurrency)]
        chores = [asyncio.create_task(chore) for chore in self._chores(leases)]
        try:
            await self._claim_until_stopped()
        finally:
            self._stopping.set()
            await self._shut_down(runners)
            for chore in [*chores, *self._lingering]:
                chore.cancel()
            await asyncio.gather(*chores, *self._lingering, return_exceptions=True)
            self._attempts.close()
            await self._retire()
            log.info("worker %s stopped", self.id)

    def _chores(self, leases: LeaseRescue) -> list[Coroutine[Any, Any, None]]:
        """What runs beside the claim loop until the worker stops."""
        running = self._attempts.running
        retention = Retention(
            self.driver, retention_s=self.retention_s, interval_s=self.prune_interval_s
        )
        return [
            leases.heartbeat(),
            leases.watch_local_deaths(),
            Cancellations(self.driver, self.id, running, interval_s=self.cancel_poll_s).watch(),
            retention.run(),
            Cron(self.queue, self.schedules).run(),
        ]

    # claiming

    async def _claim_until_stopped(self) -> None:
        while not self.is_stopping:
            room = self.concurrency + self.prefetch - self._in_hand
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            # runners waiting on an empty buffer: their tasks are started in the claim itself
            idle = self.concurrency - self._executing - self._buffer.qsize()
            self._room.clear()  # set by a runner that finishes from now on
            try:
                claimed = await self.driver.claim(
                    self.id,
                    room,
                    queues=self.queues,
                    lease_s=self.lease_s,
                    now=time.time(),
                    start=max(0, idle),
                )
            except StoreUnavailable as exc:
                log.warning("claim failed, retrying: %s", exc)
                await self._sleep_unless_stopped(self.poll_interval_s)
                continue
            for task in claimed.started:
                self.events.task("started", task, at=task.started_at or 0.0)
            tasks = [*claimed.started, *claimed.prefetched]
            for task in tasks:
                self._in_hand += 1
                self._held.add(task.id)
                self._buffer.put(task)
            if not tasks:
                # a limited queue's freed slot is no wake-up of its own: the runner that
                # frees it claims again at once (other workers at their next poll)
                freeing = self._executing > 0 and await self._limited.any()
                await self._wait_for_work(or_a_runner_frees=freeing)

    async def _wait_for_work(self, *, or_a_runner_frees: bool = False) -> None:
        waiter = asyncio.create_task(self.driver.wait_for_work(self.poll_interval_s))
        stopper = asyncio.create_task(self._stopping.wait())
        waits = {waiter, stopper}
        if or_a_runner_frees:
            waits.add(asyncio.create_task(self._room.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for t in waits:
            t.cancel()

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # running

    async def _run_tasks(self) -> None:
        while (task := await self._buffer.get()) is not None:
            self._executing += 1
            try:
                await self._execute(task)
            finally:
                self._executing -= 1
                self._in_hand -= 1
                self._room.set()

    async def _execute(self, claimed: Task) -> None:
        outcomes = self._outcomes
        task = claimed if claimed.status is Status.RUNNING else await outcomes.start(claimed)
        if task is None:
            return
        action = self.actions.resolve(task.action)
        if log.isEnabledFor(logging.DEBUG):  # its fields are built per task, even unlogged
            log.debug("task %s attempt %d started", task.id, task.attempts, extra=task_fields(task))
        try:
            with self.tracing.processing(task):  # the handler runs inside the attempt's span
                result = await self._attempts.run(
                    task, action, on_interrupted=lambda: outcomes.interrupted(task)
                )
        except AttemptStopped as stopped:
            if stopped.cancelled:
                await outcomes.cancelled(task)
                return
            error = attempt_error(task, str(stopped))
            if stopped.attempt is not None:
                self._linger(
                    outcomes.attempt_failed_once_stopped(stopped.attempt, action, error, stopped)
                )
            else:
                await outcomes.attempt_failed(task, action, error, stopped)
        except Fail as exc:
            await outcomes.attempt_failed(
                task, action, attempt_error(task, str(exc) or "failed"), exc
            )
        except Retry as exc:
            await outcomes.attempt_failed(task, action, attempt_error(task, str(exc)), exc)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            error = attempt_error(task, message, traceback.format_exc())
            await outcomes.attempt_failed(task, action, error, exc)
        else:
            await outcomes.succeed(task, result)

    def _linger(self, coro: Coroutine[Any, Any, None]) -> None:
        """Finish ``coro`` apart from the runner, which moves on; cancelled at the end of run."""
        waiting = asyncio.create_task(coro)
        self._lingering.add(waiting)
        waiting.add_done_callback(self._lingering.discard)

    @property
    def stuck_handlers(self) -> int:
        """Handlers told to stop that have not: their threads keep the process alive."""
        return self._attempts.stuck

    def exit_if_stuck(self) -> None:
        """End the process now if handler threads outlived shutdown.

        Python would wait for them at exit, and their tasks are still ours (never re-queued
        while a thread may run them): ending the process is what lets lease recovery hand
        them to another worker. Call it after every write is committed.
        """
        if self.stuck_handlers:
            log.warning("exiting with %d handler threads still running", self.stuck_handlers)
            logging.shutdown()
            os._exit(0)

    # shutdown

    async def _retire(self) -> None:
        """Leave the workers table at once (after the heartbeat, which could announce the
        worker again, has stopped)."""
        try:
            await self.driver.retire(self.id)
            self.events.worker("left", self.id, at=time.time())
        except StoreUnavailable as exc:
            log.warning("could not retire worker %s (it drops off once stale): %s", self.id, exc)

    async def _shut_down(self, runners: list[asyncio.Task[None]]) -> None:
        unstarted: list[Task] = []
        # claimed and started together: they run within the grace
        for item in self._buffer.take_all():
            if item.status is Status.RUNNING:
                self._buffer.put(item)
            else:
                unstarted.append(item)
                self._in_hand -= 1
        if unstarted:
            try:
                n = await self.driver.release([t.id for t in unstarted], self.id)
                log.info("returned %d unstarted tasks to the queue", n)
                if n == len(unstarted):
                    now = time.time()
                    for task in unstarted:
                        self.events.task("released", task, at=now)
                else:  # which ones were still ours is not known
                    self.events.resync(f"{n} tasks released")
            except StoreUnavailable as exc:
                log.warning("could not return unstarted tasks (their lease will lapse): %s", exc)
            finally:
                self._held.difference_update(t.id for t in unstarted)
        for _ in runners:
            self._buffer.close()
        _, late = await asyncio.wait(runners, timeout=self.grace_s)
        if late:
            log.warning(
                "%d tasks still running after %gs grace: interrupting", len(late), self.grace_s
            )
            for runner in late:
                runner.cancel()
            await asyncio.gather(*late, return_exceptions=True)
