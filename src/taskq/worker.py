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
import time
import traceback
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskq import codec
from taskq.actions import Action, Actions, Fail, Retry, call
from taskq.config import Settings
from taskq.errors import StoreUnavailable
from taskq.queue import Queue
from taskq.task import AttemptError, Task

log = logging.getLogger(__name__)

# Tells this process's worker ids from a previous process that had the same pid.
PROCESS_TOKEN = uuid.uuid4().hex[:8]
_worker_numbers = itertools.count(1)


def new_worker_id() -> str:
    """``host/pid/process-token/n``: enough to tell, on the same host, a dead worker."""
    return f"{socket.gethostname()}/{os.getpid()}/{PROCESS_TOKEN}/{next(_worker_numbers)}"


def is_dead_local_worker(worker_id: str) -> bool:
    """True when ``worker_id`` belongs to a process on this host that no longer runs.

    Only a sure answer counts: another host's workers, or a pid that is alive (even if
    reused), are left to lease expiry.
    """
    try:
        host, pid_text, token, _ = worker_id.split("/")
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
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
        backoff_base_s: float = 1.0,
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
        self.backoff_base_s = backoff_base_s
        self.id = new_worker_id()
        self._buffer: asyncio.Queue[Task | None] = asyncio.Queue()
        self._in_hand = 0
        self._room = asyncio.Event()
        self._stopping = asyncio.Event()
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="taskq-action")

    @classmethod
    def from_settings(cls, queue: Queue, settings: Settings) -> Worker:
        """A worker configured by ``settings``, with the demo and ``--actions`` actions."""
        actions = Actions.load(settings.actions, demo_delay_ms=settings.demo_delay_ms)
        return cls(
            queue,
            actions,
            concurrency=settings.concurrency,
            prefetch=settings.prefetch,
            queues=settings.queues,
            max_attempts=settings.max_attempts,
            lease_s=settings.lease_s,
            poll_interval_s=settings.poll_interval_s,
            grace_s=settings.grace_s,
        )

    def stop(self) -> None:
        """Stop claiming; running tasks get ``grace_s`` to finish. Safe to call twice."""
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
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self._claim_until_stopped()
        finally:
            self._stopping.set()
            heartbeat.cancel()
            await self._shut_down(runners)
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
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
            try:
                tasks = await self.driver.claim(
                    self.id, room, queues=self.queues, lease_s=self.lease_s, now=time.time()
                )
            except StoreUnavailable as exc:
                log.warning("claim failed, retrying: %s", exc)
                await self._sleep_unless_stopped(self.poll_interval_s)
                continue
            for task in tasks:
                self._in_hand += 1
                self._buffer.put_nowait(task)
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
            try:
                await self._execute(task)
            finally:
                self._in_hand -= 1
                self._room.set()

    async def _execute(self, claimed: Task) -> None:
        try:
            task = await self.driver.start(
                claimed.id, self.id, lease_s=self.lease_s, now=time.time()
            )
        except StoreUnavailable as exc:
            log.warning("could not start task %s (its lease will lapse): %s", claimed.id, exc)
            return
        if task is None:
            log.info("task %s is no longer ours (cancelled or taken over)", claimed.id)
            return
        action = self.actions.resolve(task.action)
        log.debug("task %s (%s) attempt %d started", task.id, task.action, task.attempts)
        try:
            result = await self._call(action, task)
        except asyncio.CancelledError:
            error = self._error(task, "interrupted: worker shut down")
            await self._record(
                self.driver.retry_later(task.id, self.id, error, run_at=time.time()), task
            )
            raise
        except Fail as exc:
            await self._fail(task, self._error(task, str(exc) or "failed"))
        except Retry as exc:
            await self._retry_or_fail(task, action, self._error(task, str(exc)), after_s=exc.after)
        except TimeoutError:
            error = self._error(task, f"timed out after {self._timeout_s(action, task)}s")
            await self._retry_or_fail(task, action, error)
        except Exception as exc:
            error = self._error(task, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            await self._retry_or_fail(task, action, error)
        else:
            await self._succeed(task, result)

    async def _succeed(self, task: Task, result: Any) -> None:
        try:
            result_json = codec.encode(result)
        except codec.NotJSON as exc:
            # Running it again would give the same result: no retry.
            await self._fail(task, self._error(task, f"the result is {exc}"))
            return
        await self._record(
            self.driver.complete(task.id, self.id, result_json, now=time.time()), task
        )
        log.debug("task %s completed", task.id)

    def _timeout_s(self, action: Action, task: Task) -> float | None:
        return task.timeout_s or action.timeout_s

    async def _call(self, action: Action, task: Task) -> Any:
        run = call(action, task.payload, self._run_sync)
        timeout_s = self._timeout_s(action, task)
        if timeout_s is None:
            return await run
        return await asyncio.wait_for(run, timeout_s)

    async def _run_sync(self, fn: Any, data: dict[str, Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, data)

    @staticmethod
    def _error(task: Task, message: str, tb: str | None = None) -> AttemptError:
        return AttemptError(attempt=task.attempts, error=message, at=time.time(), traceback=tb)

    async def _retry_or_fail(
        self, task: Task, action: Action, error: AttemptError, *, after_s: float | None = None
    ) -> None:
        max_attempts = task.max_attempts or action.max_attempts or self.max_attempts
        if task.attempts >= max_attempts:
            await self._fail(task, error)
            return
        delay_s = (
            after_s if after_s is not None else backoff_s(task.attempts, base_s=self.backoff_base_s)
        )
        log.info(
            "task %s attempt %d failed, retry in %.1fs: %s",
            task.id,
            task.attempts,
            delay_s,
            error.error,
        )
        await self._record(
            self.driver.retry_later(task.id, self.id, error, run_at=time.time() + delay_s), task
        )

    async def _fail(self, task: Task, error: AttemptError) -> None:
        log.info("task %s failed after %d attempts: %s", task.id, task.attempts, error.error)
        await self._record(self.driver.fail(task.id, self.id, error, now=time.time()), task)

    async def _record(self, write: Any, task: Task) -> None:
        """Await an outcome write; a store failure leaves the lease to lapse (run again)."""
        try:
            if not await write:
                log.warning("task %s: outcome dropped, the task is no longer ours", task.id)
        except StoreUnavailable as exc:
            log.error("task %s: could not record outcome, it will run again: %s", task.id, exc)

    # leases

    async def _heartbeat(self) -> None:
        interval_s = self.lease_s / 3
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.driver.renew_leases(self.id, lease_s=self.lease_s, now=time.time())
                await self._recover(at_start=False)
            except StoreUnavailable as exc:
                log.warning("heartbeat failed: %s", exc)

    async def _recover(self, *, at_start: bool) -> None:
        dead: list[str] = []
        if at_start:
            dead = [w for w in await self.driver.held_worker_ids() if is_dead_local_worker(w)]
        n = await self.driver.recover(
            now=time.time(), default_max_attempts=self.max_attempts, dead_worker_ids=dead
        )
        if n:
            log.warning("recovered %d tasks from lost workers", n)

    # shutdown

    async def _shut_down(self, runners: list[asyncio.Task[None]]) -> None:
        unstarted: list[Task] = []
        while not self._buffer.empty():
            item = self._buffer.get_nowait()
            if item is not None:
                unstarted.append(item)
                self._in_hand -= 1
        if unstarted:
            try:
                n = await self.driver.release([t.id for t in unstarted], self.id)
                log.info("returned %d unstarted tasks to the queue", n)
            except StoreUnavailable as exc:
                log.warning("could not return unstarted tasks (their lease will lapse): %s", exc)
        for _ in runners:
            self._buffer.put_nowait(None)
        _, late = await asyncio.wait(runners, timeout=self.grace_s)
        if late:
            log.warning(
                "%d tasks still running after %.0fs grace: interrupting", len(late), self.grace_s
            )
            for runner in late:
                runner.cancel()
            await asyncio.gather(*late, return_exceptions=True)
