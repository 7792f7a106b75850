"""The consumer loop: claim tasks, run their actions, record what came of them.

One claimer keeps at most ``concurrency + prefetch`` tasks in hand (running or waiting
in the local buffer); ``concurrency`` runners take from the buffer. Every task in hand
is leased; a heartbeat renews the leases, so a healthy long task is never taken over,
while a dead worker's tasks are recovered by whichever worker notices the lapse first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from croniter import croniter

from taskq import actions as handlers
from taskq import codec
from taskq.actions import Action, Actions, Fail, Retry
from taskq.config import Settings
from taskq.errors import StoreUnavailable
from taskq.queue import Queue
from taskq.task import AttemptError, NewTask, Status, Task

log = logging.getLogger(__name__)
T = TypeVar("T")


def _local_key() -> str:
    """What "same host" must mean to trust a pid: one hostname, one PID namespace, one boot.

    Containers can share a hostname (Kubernetes hostNetwork pods share the node's) while
    each sees only its own processes: a pid missing there says nothing about the other.
    """
    parts = [socket.gethostname().replace("/", "_")]
    for path in ("/proc/self/ns/pid", "/proc/sys/kernel/random/boot_id"):
        try:
            text = os.readlink(path) if path.endswith("/pid") else Path(path).read_text()
        except OSError:
            continue  # not Linux: the hostname alone
        parts.append("".join(ch for ch in text if ch.isalnum())[:16])
    return ":".join(parts)


LOCAL_KEY = _local_key()
# Tells this process's worker ids from a previous process that had the same pid.
PROCESS_TOKEN = uuid.uuid4().hex[:8]
_worker_numbers = itertools.count(1)


def new_worker_id() -> str:
    """``host/pid/process-token/n``: enough to tell, on the same host, a dead worker."""
    return f"{LOCAL_KEY}/{os.getpid()}/{PROCESS_TOKEN}/{next(_worker_numbers)}"


def is_dead_local_worker(worker_id: str) -> bool:
    """True when ``worker_id`` belongs to a process on this host that no longer runs.

    Only a sure answer counts: another host's (or PID namespace's) workers, or a pid that
    is alive (even if reused), are left to lease expiry.
    """
    try:
        host, pid_text, token, _ = worker_id.split("/")
        pid = int(pid_text)
    except ValueError:
        return False
    if host != LOCAL_KEY:
        return False
    if pid == os.getpid():
        return token != PROCESS_TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def backoff_s(attempt: int, *, base_s: float = 1.0, max_s: float = 300.0) -> float:
    """Exponential backoff with jitter: base·2^(attempt-1), capped, times a random 0.5 to 1."""
    ceiling = min(base_s * 2.0 ** (attempt - 1), max_s)
    return ceiling * random.uniform(0.5, 1.0)


class Attempt:
    """One running attempt of a task, which the worker can ask to stop."""

    def __init__(self, task: Task, action: Action, threads: ThreadPoolExecutor) -> None:
        self.task = task
        self.action = action
        self.stop_flag = threading.Event()  # what the handler's is_cancelled() reads
        self.stop_reason: str | None = None
        self.settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.future = handlers.start(action, task.payload, self.stop_flag, threads)
        self.future.add_done_callback(self._on_done)

    def _on_done(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled():
            future.exception()  # retrieved here: an abandoned handler's error is not "lost"
        self._settle()

    def _settle(self) -> None:
        if not self.settled.done():
            self.settled.set_result(None)

    def request_stop(self, reason: str) -> None:
        """Cancelled or timed out: tell the handler, and stop waiting for it."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_flag.set()
            self._settle()


class AttemptStopped(Exception):
    """The attempt was stopped before its handler returned.

    ``attempt`` is set when the handler is still running anyway (a stuck sync thread).
    """

    def __init__(self, reason: str, *, cancelled: bool, attempt: Attempt | None) -> None:
        super().__init__(reason)
        self.cancelled = cancelled
        self.attempt = attempt


CANCELLED = "cancelled"
# A write the store refused for now (restarting, disk full) is tried again, waiting this
# long at first and doubling up to the most: the task stays held and its lease renewed.
RECORD_RETRY_S = 0.1
RECORD_RETRY_MAX_S = 5.0


def _claim_order(task: Task) -> tuple[int, int, float, int]:
    """Where a claimed task goes in the local buffer: started ones first (they already
    run, in the store's eyes), then as the store orders them: priority, then FIFO."""
    return (task.status is not Status.RUNNING, -task.priority, task.run_at, task.seq)


class _Buffer:
    """Claimed tasks waiting for a runner, in claim order, whenever each arrived: a
    high-priority task prefetched late still runs before lower-priority ones."""

    def __init__(self) -> None:
        self._queue: asyncio.PriorityQueue[tuple[tuple[Any, ...], int, Task | None]] = (
            asyncio.PriorityQueue()
        )
        self._arrivals = itertools.count()

    def put(self, task: Task) -> None:
        self._queue.put_nowait((_claim_order(task), next(self._arrivals), task))

    def close(self) -> None:
        """Tell one runner to stop once the tasks before this are taken."""
        self._queue.put_nowait(((2,), next(self._arrivals), None))

    async def get(self) -> Task | None:
        return (await self._queue.get())[2]

    def take_all(self) -> list[Task]:
        taken: list[Task] = []
        while not self._queue.empty():
            if (task := self._queue.get_nowait()[2]) is not None:
                taken.append(task)
        return taken

    def qsize(self) -> int:
        return self._queue.qsize()


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
        self.local_death_check_s = 1.0
        self.id = new_worker_id()
        self._buffer = _Buffer()
        self._in_hand = 0  # claimed: buffered or executing
        # ids of the tasks whose rows this worker owns: what its heartbeat renews
        self._held: set[str] = set()
        self._give_up_at: float | None = None  # past the shutdown grace: stop retrying writes
        self._executing = 0
        self._attempts: dict[str, Attempt] = {}
        self._stuck: set[asyncio.Future[Any]] = set()
        self._lingering: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self._threads = self._new_thread_pool()

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
        )

    def _new_thread_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.concurrency, thread_name_prefix="taskq-action")

    def stop(self) -> None:
        """Stop claiming; running tasks get ``grace_s`` to finish. Safe to call twice."""
        if self._give_up_at is None:
            self._give_up_at = time.monotonic() + self.grace_s
        self._stopping.set()
        self._room.set()

    @property
    def is_stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Recover dead local workers' tasks, then consume until stopped."""
        log.info(
            "worker %s started: concurrency=%d prefetch=%d queues=%s",
            self.id,
            self.concurrency,
            self.prefetch,
            ",".join(self.queues or ["*"]),
        )
        await self._recover(at_start=True)
        runners = [asyncio.create_task(self._run_tasks()) for _ in range(self.concurrency)]
        chores = [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._watch_local_deaths()),
            asyncio.create_task(self._watch_cancellations()),
            asyncio.create_task(self._prune_finished()),
            asyncio.create_task(self._enqueue_scheduled()),
        ]
        try:
            await self._claim_until_stopped()
        finally:
            self._stopping.set()
            await self._shut_down(runners)
            for chore in [*chores, *self._lingering]:
                chore.cancel()
            await asyncio.gather(*chores, *self._lingering, return_exceptions=True)
            self._threads.shutdown(wait=False, cancel_futures=True)
            log.info("worker %s stopped", self.id)

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
            try:
                tasks = await self.driver.claim(
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
            for task in tasks:
                self._in_hand += 1
                self._held.add(task.id)
                self._buffer.put(task)
            if not tasks:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        waiter = asyncio.create_task(self.driver.wait_for_work(self.poll_interval_s))
        stopper = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for t in (waiter, stopper):
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
        task = claimed if claimed.status is Status.RUNNING else await self._start(claimed)
        if task is None:
            self._held.discard(claimed.id)
            return
        action = self.actions.resolve(task.action)
        log.debug("task %s (%s) attempt %d started", task.id, task.action, task.attempts)
        try:
            result = await self._attempt(task, action)
        except AttemptStopped as stopped:
            if stopped.cancelled:
                error = self._error(task, CANCELLED)
                await self._record(
                    lambda: self.driver.mark_cancelled(task.id, self.id, error, now=time.time()),
                    task,
                )
            elif stopped.attempt is not None:
                waiting = asyncio.create_task(
                    self._fail_when_done(stopped.attempt, action, self._error(task, str(stopped)))
                )
                self._lingering.add(waiting)
                waiting.add_done_callback(self._lingering.discard)
            else:
                await self._retry_or_fail(task, action, self._error(task, str(stopped)))
        except Fail as exc:
            await self._fail(task, self._error(task, str(exc) or "failed"))
        except Retry as exc:
            await self._retry_or_fail(task, action, self._error(task, str(exc)), after_s=exc.after)
        except Exception as exc:
            error = self._error(task, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            await self._retry_or_fail(task, action, error)
        else:
            await self._succeed(task, result)

    async def _start(self, claimed: Task) -> Task | None:
        """Start a prefetched task; None if it is no longer ours (or the store stayed
        unavailable until the shutdown grace ran out: then its lease lapses)."""
        now = time.time()
        attempt = await self._persist(
            lambda: self.driver.start(claimed.id, self.id, lease_s=self.lease_s, now=now),
            f"start task {claimed.id}",
        )
        if attempt is None:
            log.info("task %s is no longer ours (cancelled or taken over)", claimed.id)
            return None
        return msgspec.structs.replace(
            claimed, status=Status.RUNNING, attempts=attempt, started_at=now
        )

    async def _attempt(self, task: Task, action: Action) -> Any:
        """Run the handler until it returns, or it is cancelled, or it times out."""
        attempt = Attempt(task, action, self._threads)
        timeout_s = task.timeout_s or action.timeout_s
        timer = None
        if timeout_s is not None:
            timer = asyncio.get_running_loop().call_later(
                timeout_s, attempt.request_stop, f"timed out after {timeout_s}s"
            )
        self._attempts[task.id] = attempt
        try:
            await attempt.settled
        except asyncio.CancelledError:  # the worker itself is shutting down past its grace
            attempt.request_stop("interrupted: worker shut down")
            if await self._abandon(attempt):
                error = self._error(task, "interrupted: worker shut down")
                await self._record(
                    lambda: self.driver.retry_later(task.id, self.id, error, run_at=time.time()),
                    task,
                )
            else:
                # Its thread still runs it: re-queueing would let another worker run it at
                # the same time. It stays ours until this process is gone and the lease
                # lapses (or a restart here finds this pid dead).
                log.warning("task %s left running: lease recovery will hand it on", task.id)
            raise
        finally:
            del self._attempts[task.id]
            if timer is not None:
                timer.cancel()
        if attempt.future.done():  # a result that came in with a stop request still counts
            return attempt.future.result()
        stopped = await self._abandon(attempt)
        reason = attempt.stop_reason or "stopped"
        raise AttemptStopped(
            reason, cancelled=reason == CANCELLED, attempt=None if stopped else attempt
        )

    async def _abandon(self, attempt: Attempt) -> bool:
        """Stop a handler: an async one is cancelled; a sync one, told through its stop flag,
        gets ``cancel_grace_s`` to return. Returns whether it stopped; if not, its thread is
        left behind (and counted in ``stuck_handlers``)."""
        if attempt.future.done():
            return True
        if attempt.action.is_async:
            attempt.future.cancel()
        # never cancel a thread's future: it would stop telling us when the thread ends
        done, _ = await asyncio.wait({attempt.future}, timeout=self.cancel_grace_s)
        if done:
            return True
        log.warning(
            "task %s: handler still running %gs after it was told to stop; abandoning it",
            attempt.task.id,
            self.cancel_grace_s,
        )
        self._stuck.add(attempt.future)
        attempt.future.add_done_callback(self._stuck.discard)
        if not attempt.action.is_async:
            # the stuck thread keeps its pool; later tasks get a fresh one
            self._threads.shutdown(wait=False)
            self._threads = self._new_thread_pool()
        return False

    @property
    def stuck_handlers(self) -> int:
        """Handlers told to stop that have not: their threads keep the process alive."""
        return len(self._stuck)

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

    async def _fail_when_done(self, attempt: Attempt, action: Action, error: AttemptError) -> None:
        """Record a timed-out attempt once its thread has really ended, so the retry can
        never run beside it; the lease stays renewed meanwhile."""
        await asyncio.wait({attempt.future})
        await self._retry_or_fail(attempt.task, action, error)

    async def _succeed(self, task: Task, result: Any) -> None:
        try:
            result_json = codec.encode(result)
        except codec.NotJSON as exc:
            # Running it again would give the same result: no retry.
            await self._fail(task, self._error(task, f"the result is {exc}"))
            return
        if codec.holds_nul(result_json):  # PostgreSQL cannot store it; fail alike everywhere
            message = "the result holds a NUL character (\\u0000), which cannot be stored"
            await self._fail(task, self._error(task, message))
            return
        await self._record(
            lambda: self.driver.complete(task.id, self.id, result_json, now=time.time()), task
        )
        log.debug("task %s completed", task.id)

    @staticmethod
    def _error(task: Task, message: str, tb: str | None = None) -> AttemptError:
        return AttemptError(attempt=task.attempts, error=message, at=time.time(), traceback=tb)

    def _retry_delay_s(self, task: Task, action: Action) -> float:
        if callable(action.backoff):
            return float(action.backoff(task.attempts))
        base_s = self.backoff_base_s if action.backoff is None else action.backoff
        return backoff_s(task.attempts, base_s=base_s)

    async def _retry_or_fail(
        self, task: Task, action: Action, error: AttemptError, *, after_s: float | None = None
    ) -> None:
        max_attempts = task.max_attempts or action.max_attempts or self.max_attempts
        if task.attempts >= max_attempts:
            await self._fail(task, error)
            return
        delay_s = self._retry_delay_s(task, action) if after_s is None else after_s
        log.info(
            "task %s attempt %d failed, retry in %.1fs: %s",
            task.id,
            task.attempts,
            delay_s,
            error.error,
        )
        run_at = time.time() + delay_s
        await self._record(
            lambda: self.driver.retry_later(task.id, self.id, error, run_at=run_at), task
        )

    async def _fail(self, task: Task, error: AttemptError) -> None:
        attempts = "1 attempt" if task.attempts == 1 else f"{task.attempts} attempts"
        log.info("task %s failed after %s: %s", task.id, attempts, error.error)
        await self._record(lambda: self.driver.fail(task.id, self.id, error, now=time.time()), task)

    async def _record(self, write: Callable[[], Awaitable[bool]], task: Task) -> None:
        """Record an attempt's outcome, then let go of the task."""
        try:
            recorded = await self._persist(write, f"record the outcome of task {task.id}")
            if recorded is False:
                log.warning("task %s: outcome dropped, the task is no longer ours", task.id)
        finally:
            self._held.discard(task.id)

    async def _persist(self, write: Callable[[], Awaitable[T]], what: str) -> T | None:
        """Run a write, again and again while the store is unavailable: the task stays
        held (its lease renewed) until the store answers. Past the shutdown grace, give up
        (None): the lease then lapses and another worker recovers the task."""
        pause_s = RECORD_RETRY_S
        while True:
            try:
                return await write()
            except StoreUnavailable as exc:
                if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                    log.error("could not %s, giving up at shutdown: %s", what, exc)
                    return None
                log.warning("could not %s, retrying in %.1fs: %s", what, pause_s, exc)
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, RECORD_RETRY_MAX_S)

    # chores: leases, cancellations, retention, schedules

    async def _heartbeat(self) -> None:
        interval_s = self.lease_s / 3
        while True:
            await asyncio.sleep(interval_s)
            try:
                if self._held:
                    await self.driver.renew_leases(
                        self.id, list(self._held), lease_s=self.lease_s, now=time.time()
                    )
                await self._recover(at_start=False)
            except StoreUnavailable as exc:
                log.warning("heartbeat failed: %s", exc)

    async def _recover(self, *, at_start: bool) -> None:
        """Requeue lapsed leases' tasks, and (at start) those of dead workers on this host."""
        dead = await self._dead_local_workers() if at_start else []
        n = await self.driver.recover(
            now=time.time(), default_max_attempts=self.max_attempts, dead_worker_ids=dead
        )
        if n:
            log.warning("recovered %d tasks from lost workers", n)

    async def _dead_local_workers(self) -> list[str]:
        return [w for w in await self.driver.held_worker_ids() if is_dead_local_worker(w)]

    async def _watch_local_deaths(self) -> None:
        """A worker process on this host that died (kill -9, OOM, a hard exit with a stuck
        handler) is known dead at once: recover its tasks now, not when its lease lapses.
        A read each second; a write only when there is something to recover."""
        while True:
            await asyncio.sleep(self.local_death_check_s)
            try:
                if dead := await self._dead_local_workers():
                    n = await self.driver.recover(
                        now=time.time(),
                        default_max_attempts=self.max_attempts,
                        dead_worker_ids=dead,
                    )
                    log.warning("recovered %d tasks of dead local workers %s", n, dead)
            except StoreUnavailable as exc:
                log.warning("could not check for dead local workers: %s", exc)

    async def _watch_cancellations(self) -> None:
        while True:
            await asyncio.sleep(self.cancel_poll_s)
            if not self._attempts:
                continue
            try:
                requested = await self.driver.cancel_requests(self.id)
            except StoreUnavailable as exc:
                log.warning("could not check for cancellations: %s", exc)
                continue
            for task_id in requested:
                if attempt := self._attempts.get(task_id):
                    log.info("task %s cancelled while running: stopping it", task_id)
                    attempt.request_stop(CANCELLED)

    async def _prune_finished(self) -> None:
        if self.retention_s <= 0:
            return
        while True:
            try:
                before = time.time() - self.retention_s
                while (n := await self.driver.prune(before=before, limit=1000)) == 1000:
                    pass
                if n:
                    log.info("pruned finished tasks older than %.0f days", self.retention_s / 86400)
            except StoreUnavailable as exc:
                log.warning("pruning failed: %s", exc)
            await asyncio.sleep(self.prune_interval_s)

    async def _enqueue_scheduled(self) -> None:
        """Enqueue cron actions at each tick; the tick's idempotency key makes it once
        across every worker of the database."""
        schedules = {a.name: a.cron for a in self.actions.scheduled if a.cron}
        if not schedules:
            return
        next_tick = {
            name: croniter(cron, time.time()).get_next(float) for name, cron in schedules.items()
        }
        while True:
            name, tick = min(next_tick.items(), key=lambda item: item[1])
            await asyncio.sleep(max(0.0, tick - time.time()))
            key = f"cron:{name}:{tick:.0f}"
            try:
                await self.queue.enqueue_many([NewTask(action=name, idempotency_key=key)])
            except StoreUnavailable as exc:
                log.warning("could not enqueue scheduled %s: %s", name, exc)
            next_tick[name] = croniter(schedules[name], tick).get_next(float)

    # shutdown

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
