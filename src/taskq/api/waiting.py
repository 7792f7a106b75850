"""``GET /tasks/{id}?wait=S``: answer once the task is finished, woken by the events.

Every process already tells every other what it changed (``taskq/events.py``), so a
waiting request costs nothing while nothing finishes: one ``Waiters`` per app holds one
subscription while anyone waits, and each event of a task that ended wakes that task's
waiters, who then read it once. When some changes were not told one by one (a lost
message, a burst, a bulk action), every waited task is read again in one query, and those
that ended are woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from taskq.api.errors import BadRequest
from taskq.errors import TaskqError
from taskq.events import Batch
from taskq.queue import Queue
from taskq.task import Task, _is_canonical_uuid

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0
# plain decimal seconds: float() alone would also take "nan", "inf", "1_0" or " 5"
_SECONDS = re.compile(r"[0-9]{1,10}(\.[0-9]{1,10})?")


def parse_wait(params: Any) -> float | None:
    """The ``wait`` query parameter in seconds (None: not given, or empty as an HTML form
    sends an unset field); 400 unless 0 < S <= 60."""
    text = params.get("wait")
    if text is None or text == "":
        return None
    if not _SECONDS.fullmatch(text) or not 0 < float(text) <= MAX_WAIT_S:
        raise BadRequest(
            f"wait must be a number of seconds above 0, at most {MAX_WAIT_S:.0f}", field="wait"
        )
    return float(text)


class Waiters:
    """The requests of one app waiting for tasks to finish, by task id, and the one
    subscription to the events that wakes them."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._subscribing = asyncio.Lock()
        self._rereading: asyncio.Task[None] | None = None
        self._read_again = False
        self._closed = False

    @property
    def count(self) -> int:
        """How many requests wait now."""
        return sum(map(len, self._waiting.values()))

    @contextlib.asynccontextmanager
    async def watch(self, task_id: str) -> AsyncIterator[asyncio.Future[None]]:
        """A future done once ``task_id`` (as the store writes ids) is told finished, or
        the service stops. Subscribed before it is handed over: a read of the task made
        inside misses no change after it."""
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            woken.set_result(None)
            yield woken
            return
        self._waiting.setdefault(task_id, set()).add(woken)
        try:
            # waiters arriving together share one subscription (and a last one leaving
            # does not unsubscribe under a new one's feet)
            async with self._subscribing:
                if self._unsubscribe is None and not self._closed:
                    self._unsubscribe = await self._queue.events.subscribe(self._on_batch)
            yield woken
        finally:
            waiting = self._waiting.get(task_id)
            if waiting is not None:
                waiting.discard(woken)
                if not waiting:
                    del self._waiting[task_id]
            if not self._waiting:
                async with self._subscribing:
                    if not self._waiting:
                        await self._stop()

    async def close(self) -> None:
        """Wake every waiter (the service is stopping: each answers its task as it is)."""
        self._closed = True
        for task_id in list(self._waiting):
            self._wake(task_id)
        async with self._subscribing:
            await self._stop()

    async def _stop(self) -> None:
        rereading, self._rereading = self._rereading, None
        if rereading is not None:
            rereading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rereading
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            await unsubscribe()

    def _wake(self, task_id: str) -> None:
        for woken in self._waiting.pop(task_id, ()):
            if not woken.done():
                woken.set_result(None)

    def _on_batch(self, batch: Batch | None) -> None:
        if batch is not None:
            for event in batch.tasks:
                if event.status.is_terminal and event.id in self._waiting:
                    self._wake(event.id)
        if batch is None or batch.dropped or batch.resync is not None:
            self._reread()

    def _reread(self) -> None:
        """Read every waited task again (once more after a read under way: it may have
        started before the change it was asked for)."""
        if self._rereading is not None:
            self._read_again = True
            return
        self._rereading = asyncio.create_task(self._read_waited())

    async def _read_waited(self) -> None:
        try:
            self._read_again = True
            while self._read_again and self._waiting:
                self._read_again = False
                ids = list(self._waiting)
                try:
                    found = {t.id: t for t in await self._queue.tasks_by_id(ids)}
                except TaskqError as exc:  # the store is out: the deadlines still hold
                    log.debug("could not read the waited tasks: %s", exc)
                    return
                for task_id in ids:
                    task = found.get(task_id)
                    if task is None or task.status.is_terminal:  # ended, or deleted
                        self._wake(task_id)
        finally:
            if self._rereading is asyncio.current_task():  # not one started since a stop
                self._rereading = None


async def wait_for_end(waiters: Waiters, queue: Queue, task_id: str, wait_s: float) -> Task | None:
    """The task once it is finished, or as it is after ``wait_s`` seconds (or when the
    service stops); None if there is no such task."""
    deadline = asyncio.get_running_loop().time() + wait_s
    if not _is_canonical_uuid(task_id):  # an id written otherwise: wait on the stored one
        task = await queue.get(task_id)
        if task is None or task.status.is_terminal:
            return task
        task_id = task.id
    async with waiters.watch(task_id) as woken:
        task = await queue.get(task_id)
        if task is None or task.status.is_terminal:
            return task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await woken
    return await queue.get(task_id)
