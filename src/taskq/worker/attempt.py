"""Running one attempt of a task: its handler, its timeout, and stopping it.

An async handler is cancelled at its next ``await``; a sync one runs in a thread, which
cannot be killed: it is told through ``is_cancelled()`` and, if it does not return within
``cancel_grace_s``, abandoned (left to finish on its own, its result ignored).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskq import actions as handlers
from taskq.actions import Action
from taskq.logs import task_fields
from taskq.task import Task

log = logging.getLogger(__name__)

CANCELLED = "cancelled"
INTERRUPTED = "interrupted: worker shut down"


class Attempt:
    """One running attempt of a task, which the worker can ask to stop."""

    def __init__(self, task: Task, action: Action, threads: ThreadPoolExecutor) -> None:
        self.task = task
        self.action = action
        self.stop_flag = handlers.StopFlag()  # what the handler's is_cancelled() reads
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


class Attempts:
    """A worker's running attempts by task id, the threads of their sync handlers, and the
    handlers told to stop that have not."""

    def __init__(self, *, concurrency: int, cancel_grace_s: float) -> None:
        self.concurrency = concurrency
        self.cancel_grace_s = cancel_grace_s
        self.running: dict[str, Attempt] = {}
        self._stuck: set[asyncio.Future[Any]] = set()
        self._threads = self._new_thread_pool()

    def _new_thread_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.concurrency, thread_name_prefix="taskq-action")

    async def run(
        self, task: Task, action: Action, *, on_interrupted: Callable[[], Awaitable[None]]
    ) -> Any:
        """Run the handler until it returns (its result), or it is cancelled or times out
        (``AttemptStopped``). If the worker interrupts it (this coroutine is cancelled) and
        the handler stops, ``on_interrupted`` records that before the cancellation goes on.
        """
        attempt = Attempt(task, action, self._threads)
        timeout_s = task.timeout_s or action.timeout_s
        timer = None
        if timeout_s is not None:
            timer = asyncio.get_running_loop().call_later(
                timeout_s, attempt.request_stop, f"timed out after {timeout_s}s"
            )
        self.running[task.id] = attempt
        try:
            await attempt.settled
        except asyncio.CancelledError:  # the worker itself is shutting down past its grace
            attempt.request_stop(INTERRUPTED)
            if await self.abandon(attempt):
                await on_interrupted()
            else:
                # Its thread still runs it: re-queueing would let another worker run it at
                # the same time. It stays ours until this process is gone and the lease
                # lapses (or a restart here finds this pid dead).
                log.warning(
                    "task %s left running: lease recovery will hand it on",
                    task.id,
                    extra=task_fields(task),
                )
            raise
        finally:
            del self.running[task.id]
            if timer is not None:
                timer.cancel()
        if attempt.future.done():  # a result that came in with a stop request still counts
            return attempt.future.result()
        stopped = await self.abandon(attempt)
        reason = attempt.stop_reason or "stopped"
        raise AttemptStopped(
            reason, cancelled=reason == CANCELLED, attempt=None if stopped else attempt
        )

    async def abandon(self, attempt: Attempt) -> bool:
        """Stop a handler: an async one is cancelled; a sync one, told through its stop flag,
        gets ``cancel_grace_s`` to return. Returns whether it stopped; if not, its thread is
        left behind (and counted in ``stuck``)."""
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
            extra=task_fields(attempt.task),
        )
        self._stuck.add(attempt.future)
        attempt.future.add_done_callback(self._stuck.discard)
        if not attempt.action.is_async:
            # the stuck thread keeps its pool; later tasks get a fresh one
            self._threads.shutdown(wait=False)
            self._threads = self._new_thread_pool()
        return False

    @property
    def stuck(self) -> int:
        """Handlers told to stop that have not: their threads keep the process alive."""
        return len(self._stuck)

    def close(self) -> None:
        """Let go of the thread pool; handlers not yet started never will be."""
        self._threads.shutdown(wait=False, cancel_futures=True)
