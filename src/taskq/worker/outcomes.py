"""What a worker writes about the tasks it holds: a prefetched task's start, then what came
of the attempt (completed, retried later, failed, cancelled).

None of these writes may be lost while the worker runs, or a task would stay ``running``
with nobody to finish it: a write the store refused for now (restarting, disk full) is
tried again, with backoff, the task held and its lease renewed meanwhile. Only past the
shutdown grace does the worker give up; the lease then lapses and another worker recovers
the task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from taskq import codec
from taskq.actions import Action
from taskq.drivers.base import Driver
from taskq.errors import StoreUnavailable
from taskq.events import Events, TaskKind
from taskq.logs import task_fields
from taskq.task import AttemptError, Status, Task
from taskq.worker.attempt import CANCELLED, INTERRUPTED, Attempt
from taskq.worker.retry import RetryDefaults, retry_in_s

log = logging.getLogger(__name__)
T = TypeVar("T")

# A write the store refused for now is tried again, waiting this long at first and
# doubling up to the most.
RECORD_RETRY_S = 0.1
RECORD_RETRY_MAX_S = 5.0


def attempt_error(task: Task, message: str, tb: str | None = None) -> AttemptError:
    """The error of ``task``'s current attempt, stamped now."""
    return AttemptError(attempt=task.attempts, error=message, at=time.time(), traceback=tb)


class Outcomes:
    """Starts and outcomes of one worker's tasks, written until the store takes them.

    ``held`` is the worker's set of held task ids (what its heartbeat renews): a task
    leaves it once its outcome is written, or given up.
    """

    def __init__(
        self,
        driver: Driver,
        events: Events,
        worker_id: str,
        held: set[str],
        *,
        lease_s: float,
        retry: RetryDefaults,
    ) -> None:
        self.driver = driver
        self.events = events
        self.worker_id = worker_id
        self.held = held
        self.lease_s = lease_s
        self.retry = retry
        self.give_up_at: float | None = None  # monotonic; set by the shutdown grace

    async def start(self, claimed: Task) -> Task | None:
        """Start a prefetched task; None if it is no longer ours (or the store stayed
        unavailable until the shutdown grace ran out: then its lease lapses)."""
        now = time.time()
        attempt = await self.persist(
            lambda: self.driver.start(claimed.id, self.worker_id, lease_s=self.lease_s, now=now),
            f"start task {claimed.id}",
        )
        if attempt is None:
            log.info(
                "task %s is no longer ours (cancelled or taken over)",
                claimed.id,
                extra=task_fields(claimed),
            )
            self.held.discard(claimed.id)
            return None
        task = msgspec.structs.replace(
            claimed, status=Status.RUNNING, attempts=attempt, started_at=now
        )
        self.events.task("started", task, at=now)
        return task

    async def succeed(self, task: Task, result: Any) -> None:
        """Complete ``task`` with ``result``, or fail it if no store could keep the result."""
        try:
            result_json = codec.encode(result)
        except codec.NotJSON as exc:
            # Running it again would give the same result: no retry.
            await self.fail(task, attempt_error(task, f"the result is {exc}"))
            return
        if codec.holds_nul(result_json):  # PostgreSQL cannot store it; fail alike everywhere
            message = "the result holds a NUL character (\\u0000), which cannot be stored"
            await self.fail(task, attempt_error(task, message))
            return
        await self._record(
            lambda: self.driver.complete(task.id, self.worker_id, result_json, now=time.time()),
            task,
            "completed",
        )
        if log.isEnabledFor(logging.DEBUG):  # its fields are built per task, even unlogged
            log.debug("task %s completed", task.id, extra=task_fields(task))

    async def attempt_failed(
        self, task: Task, action: Action, error: AttemptError, outcome: BaseException
    ) -> None:
        """Queue ``task`` again after the retry policy's delay, or fail it."""
        delay_s = retry_in_s(task, action, self.retry, outcome)
        if delay_s is None:
            await self.fail(task, error)
            return
        log.warning(
            "task %s attempt %d failed, retry in %.1fs: %s",
            task.id,
            task.attempts,
            delay_s,
            error.error,
            extra=task_fields(task, traceback=error.traceback),
        )
        run_at = time.time() + delay_s
        await self._record(
            lambda: self.driver.retry_later(task.id, self.worker_id, error, run_at=run_at),
            task,
            "retried",
        )

    async def attempt_failed_once_stopped(
        self, attempt: Attempt, action: Action, error: AttemptError, outcome: BaseException
    ) -> None:
        """Record a timed-out attempt once its thread has really ended, so the retry can
        never run beside it; the lease stays renewed meanwhile."""
        await asyncio.wait({attempt.future})
        await self.attempt_failed(attempt.task, action, error, outcome)

    async def fail(self, task: Task, error: AttemptError) -> None:
        """Dead-letter ``task``."""
        attempts = "1 attempt" if task.attempts == 1 else f"{task.attempts} attempts"
        log.warning(
            "task %s failed after %s: %s",
            task.id,
            attempts,
            error.error,
            extra=task_fields(task, traceback=error.traceback),
        )
        await self._record(
            lambda: self.driver.fail(task.id, self.worker_id, error, now=time.time()),
            task,
            "failed",
        )

    async def cancelled(self, task: Task) -> None:
        """Record that ``task``'s attempt stopped because the task was cancelled."""
        error = attempt_error(task, CANCELLED)
        await self._record(
            lambda: self.driver.mark_cancelled(task.id, self.worker_id, error, now=time.time()),
            task,
            "cancelled",
        )

    async def interrupted(self, task: Task) -> None:
        """Queue ``task`` again now: the worker stopped its attempt at shutdown."""
        error = attempt_error(task, INTERRUPTED)
        await self._record(
            lambda: self.driver.retry_later(task.id, self.worker_id, error, run_at=time.time()),
            task,
            "retried",
        )

    async def _record(
        self, write: Callable[[], Awaitable[bool]], task: Task, kind: TaskKind
    ) -> None:
        """Record an attempt's outcome (``kind`` of change), then let go of the task."""
        try:
            recorded = await self.persist(write, f"record the outcome of task {task.id}")
            if recorded:
                self.events.task(kind, task, at=time.time())
            elif recorded is False:
                log.warning(
                    "task %s: outcome dropped, the task is no longer ours",
                    task.id,
                    extra=task_fields(task),
                )
        finally:
            self.held.discard(task.id)

    async def persist(self, write: Callable[[], Awaitable[T]], what: str) -> T | None:
        """Run a write, again and again while the store is unavailable: the task stays
        held (its lease renewed) until the store answers. Past the shutdown grace, give up
        (None): the lease then lapses and another worker recovers the task."""
        pause_s = RECORD_RETRY_S
        while True:
            try:
                return await write()
            except StoreUnavailable as exc:
                if self.give_up_at is not None and time.monotonic() >= self.give_up_at:
                    log.error("could not %s, giving up at shutdown: %s", what, exc)
                    return None
                log.warning("could not %s, retrying in %.1fs: %s", what, pause_s, exc)
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, RECORD_RETRY_MAX_S)
