"""What happened to tasks and workers, told to every process of the store as it happens.

Each process has one ``Events`` (``Queue.events``): the queue and the worker ``emit`` a
change once it is committed; every ``FLUSH_S`` the changes of that moment go out as one
message through the driver's wake-up channel (a NOTIFY on PostgreSQL, a datagram on
SQLite), so a listener in any process hears them, at no cost per listener on the sender's
side. ``GET /events`` and the dashboard are built on ``subscribe``.

A message is bounded (PostgreSQL's NOTIFY takes 8,000 bytes): past ``MAX_DETAILED``
changes in one moment, or ``MAX_MESSAGE`` bytes, only their number is sent, by kind, and
listeners are told to read afresh (``Batch.dropped``). Delivery is best effort, like the
wake-ups (a full socket or notification queue drops a message); each sender numbers its
messages, so a listener that finds one missing is told to read afresh too. What a listener
shows is read from the store: the events tell it when to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

import msgspec

from taskq.errors import TaskqError
from taskq.task import Status, Task

log = logging.getLogger(__name__)

TaskKind = Literal[
    "submitted",  # stored, queued
    "started",  # an attempt began
    "completed",
    "failed",  # out of attempts, or failed for good: dead-lettered
    "retried",  # queued again: after a failed attempt, or by a user
    "cancelled",
    "deleted",
    "released",  # handed back to the queue unstarted (a worker's shutdown)
]
WorkerKind = Literal["joined", "left"]
# the status a task has after each change (a deleted task keeps the one it had)
STATUS_AFTER: dict[str, Status] = {
    "submitted": Status.QUEUED,
    "started": Status.RUNNING,
    "completed": Status.COMPLETED,
    "failed": Status.FAILED,
    "retried": Status.QUEUED,
    "cancelled": Status.CANCELLED,
    "released": Status.QUEUED,
}

FLUSH_S = 0.1
MAX_DETAILED = 40
MAX_MESSAGE = 7_900  # bytes: under PostgreSQL's NOTIFY limit


class TaskEvent(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One change of one task; ``status`` is the task's status after it."""

    kind: TaskKind
    id: str
    status: Status
    queue: str
    action: str
    attempt: int | None
    at: float


class WorkerEvent(msgspec.Struct, array_like=True, frozen=True, gc=False):
    kind: WorkerKind
    id: str
    at: float


class Batch(msgspec.Struct, frozen=True, gc=False):
    """The changes one process made in one moment: ``tasks`` and ``workers`` in the order
    they happened, ``counts`` every task change by kind (those not detailed too),
    ``dropped`` how many were not detailed, and ``resync`` why a listener should read
    everything afresh (a bulk action, tasks recovered), if it should."""

    tasks: list[TaskEvent] = msgspec.field(default_factory=list)
    workers: list[WorkerEvent] = msgspec.field(default_factory=list)
    counts: dict[str, int] = msgspec.field(default_factory=dict)
    dropped: int = 0
    resync: str | None = None
    sender: str = ""  # which process's Events sent it, and its number there
    seq: int = 0


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Batch).decode

Deliver = Callable[[bytes | None], None]
"""Called with each message heard; None when some may have been missed (a lost
connection): whoever listens should read afresh."""


class EventChannel(Protocol):
    """The part of a driver that carries events between the processes of one store."""

    async def publish_events(self, message: bytes) -> None:
        """Send ``message`` to every process listening on this store (this one too)."""

    async def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        """Call ``deliver`` with each message from now on; returns how to stop."""


Listener = Callable[[Batch | None], None]


class Events:
    """This process's changes, sent in batches, and the changes heard from every process."""

    def __init__(self, channel: EventChannel, *, flush_s: float = FLUSH_S) -> None:
        self._channel = channel
        self._flush_s = flush_s
        self._tasks: list[TaskEvent] = []
        self._workers: list[WorkerEvent] = []
        self._counts: dict[str, int] = {}
        self._dropped = 0
        self._resync: str | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []
        self._stop_listening: Callable[[], Awaitable[None]] | None = None
        self._listening = asyncio.Lock()
        self._id = secrets.token_hex(8)
        self._sent = 0
        self._heard: dict[str, int] = {}  # sender -> the last seq heard from it

    # the sending side

    def task(self, kind: TaskKind, task: Task, *, at: float) -> None:
        """Tell that ``task`` changed by ``kind`` (committed)."""
        self._counts[kind] = self._counts.get(kind, 0) + 1
        if len(self._tasks) < MAX_DETAILED:
            status = STATUS_AFTER.get(kind, task.status)
            self._tasks.append(
                TaskEvent(kind, task.id, status, task.queue, task.action, task.attempts, at)
            )
        else:
            self._dropped += 1
        self._schedule()

    def worker(self, kind: WorkerKind, worker_id: str, *, at: float) -> None:
        if len(self._workers) < MAX_DETAILED:
            self._workers.append(WorkerEvent(kind, worker_id, at))
        self._schedule()

    def resync(self, reason: str) -> None:
        """Tell listeners to read everything afresh: many tasks changed at once."""
        self._resync = reason
        self._schedule()

    def _schedule(self) -> None:
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._flush_s)
        await self.flush()

    async def flush(self) -> None:
        """Send what is pending now."""
        self._flushing = None
        if not (self._counts or self._workers or self._resync):
            return
        self._sent += 1
        batch = Batch(
            # in the order the changes happened, not the order they were told: a worker of
            # this process may tell a task's start before the coroutine that enqueued it,
            # resumed after the same commit, tells its submission
            sorted(self._tasks, key=lambda event: event.at),
            self._workers,
            self._counts,
            self._dropped,
            self._resync,
            self._id,
            self._sent,
        )
        self._tasks, self._workers, self._counts = [], [], {}
        self._dropped, self._resync = 0, None
        try:
            await self._channel.publish_events(_bounded(batch))
        except TaskqError as exc:  # best effort: the store holds the truth
            log.debug("could not send events: %s", exc)

    async def close(self) -> None:
        """Send what is pending and stop listening."""
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
            await self.flush()
        self._listeners.clear()
        await self._unlisten()

    # the listening side

    async def subscribe(self, listener: Listener) -> Callable[[], Awaitable[None]]:
        """Call ``listener`` with every batch any process sends from now on (None: some
        were missed, read afresh); returns how to unsubscribe."""
        async with self._listening:
            if self._stop_listening is None:
                self._stop_listening = await self._channel.listen_events(self._deliver)
            self._listeners.append(listener)

        async def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)
            if not self._listeners:
                await self._unlisten()

        return unsubscribe

    async def _unlisten(self) -> None:
        async with self._listening:
            if self._stop_listening is not None and not self._listeners:
                stop, self._stop_listening = self._stop_listening, None
                await stop()

    def _deliver(self, message: bytes | None) -> None:
        if message is None:
            self._tell(None)
            return
        try:
            batch = _decode(message)
        except msgspec.DecodeError:
            log.debug("an event message that is no batch: ignored")
            return
        if batch.sender:
            last = self._heard.get(batch.sender)
            self._heard[batch.sender] = batch.seq
            if last is not None and batch.seq != last + 1:
                self._tell(None)  # one went missing in between
        self._tell(batch)

    def _tell(self, batch: Batch | None) -> None:
        for listener in list(self._listeners):
            listener(batch)


def _bounded(batch: Batch) -> bytes:
    """``batch`` encoded in at most MAX_MESSAGE bytes: the detailed changes that do not
    fit are only counted."""
    message = _encode(batch)
    while len(message) > MAX_MESSAGE and (batch.tasks or batch.workers):
        keep_tasks, keep_workers = len(batch.tasks) // 2, len(batch.workers) // 2
        batch = msgspec.structs.replace(
            batch,
            tasks=batch.tasks[:keep_tasks],
            workers=batch.workers[:keep_workers],
            dropped=batch.dropped
            + len(batch.tasks)
            - keep_tasks
            + len(batch.workers)
            - keep_workers,
        )
        message = _encode(batch)
    return message
