"""The producer's and reader's side of taskq: submit tasks, read them, manage them.

The HTTP API and in-process producers both go through ``Queue``; it validates, stamps
times and delegates storage to a driver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

import msgspec

from taskq import codec, drivers, flow, migrations
from taskq.config import Settings
from taskq.drivers.base import Driver, Uncommitted
from taskq.errors import InvalidTask, TaskConflict, TaskNotFound, TaskqError
from taskq.events import Events
from taskq.filters import (
    DEFAULT_BULK_LIMIT,
    EVERY_TASK,
    MAX_BULK_LIMIT,
    BulkResult,
    TaskFilter,
)
from taskq.flow import KEEP, Keep, QueueSettings, Rate
from taskq.keys import Keys
from taskq.roster import Schedule, WorkerInfo, scheduled, schedules
from taskq.stats import MAX_QUEUES, SAMPLE_SIZE, WINDOWS_S, QueueList, StoreStats
from taskq.task import DEFAULT_QUEUE, NewTask, Status, Task, validate
from taskq.task import _is_canonical_uuid as is_canonical_uuid

log = logging.getLogger(__name__)

# How often an enqueue through a caller's connection looks whether its transaction ended
TRANSACTION_POLL_S = 0.01
# and, while the connection stays in a transaction, how often it reads whether the tasks
# were committed all the same (a next transaction opened before a look)
TRANSACTION_RECHECK_S = 1.0


def storable(task: NewTask) -> NewTask:
    """The task, validated, with its data encoded (once) and, when it carries an
    idempotency key, a digest of what was asked (unless the caller, the API, gave one).
    Data some store could not keep is refused the same way for every store."""
    validate(task)
    try:
        text = codec.encode(task.data)
    except codec.NotJSON as exc:
        raise InvalidTask(f"data is {exc}", field="data") from None
    if codec.holds_nul(text):  # PostgreSQL's JSON cannot hold it
        raise InvalidTask("data must not contain NUL characters (\\u0000)", field="data")
    fingerprint = task.fingerprint
    if task.idempotency_key and fingerprint is None:
        asked = [task.action, task.data, task.queue, task.priority, task.max_attempts]
        # a unique key joins only when given: fingerprints stored before it existed hold
        unique = [] if task.unique_key is None else [task.unique_key]
        fingerprint = codec.fingerprint([*asked, task.timeout_s, *unique])
    return msgspec.structs.replace(task, data_json=text, fingerprint=fingerprint)


def _key_reused(new: NewTask, stored: Task) -> bool:
    """Whether ``stored``, returned for ``new``, holds its idempotency key for another task
    (a task returned for its unique key was not asked to be the same)."""
    held = new.idempotency_key is not None and stored.idempotency_key == new.idempotency_key
    return held and stored.fingerprint != new.fingerprint


class KeyReused(TaskConflict):
    """An idempotency key already used for a different task; ``index`` is the position of
    the task at fault in what was submitted."""

    def __init__(self, task: NewTask, index: int) -> None:
        super().__init__(f"idempotency key {task.idempotency_key!r} was used for a different task")
        self.index = index


class Queue:
    """Tasks in one store, reached through its driver."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        # what changed, told to every process of the store (taskq/events.py)
        self.events = Events(driver)
        self.keys = Keys(driver)
        # one per enqueue through a caller's connection whose transaction may be open
        self._watchers: set[asyncio.Task[None]] = set()

    @classmethod
    def connect(
        cls,
        database: str,
        *,
        sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL",
        sqlite_worker_sync_ms: int = 20,
        pg_pool_size: int = 10,
        pg_worker_commit: Literal["async", "sync"] = "async",
    ) -> Queue:
        """A queue on ``database`` (a SQLite path, ``sqlite:///…`` or ``postgresql://…``)."""
        return cls(
            drivers.for_url(
                database,
                sqlite_synchronous=sqlite_synchronous,
                sqlite_worker_sync_ms=sqlite_worker_sync_ms,
                pg_pool_size=pg_pool_size,
                pg_worker_commit=pg_worker_commit,
            )
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Queue:
        """A queue on ``settings.database`` with the store options of ``settings``."""
        return cls.connect(
            settings.database,
            sqlite_synchronous=settings.sqlite_synchronous,
            sqlite_worker_sync_ms=settings.sqlite_worker_sync_ms,
            pg_pool_size=settings.pg_pool_size,
            pg_worker_commit=settings.pg_worker_commit,
        )

    async def open(self) -> None:
        """Check the schema is current, then connect."""
        await asyncio.to_thread(migrations.check, self.driver.url)
        await self.driver.open()

    async def close(self) -> None:
        # a transaction still open now is left to its own connection: workers find its
        # tasks at their next poll if it commits
        for watcher in list(self._watchers):
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        await self.events.close()
        await self.driver.close()

    async def __aenter__(self) -> Queue:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def enqueue(
        self,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        run_at: float | None = None,
        idempotency_key: str | None = None,
        unique_key: str | None = None,
        connection: object | None = None,
    ) -> Task:
        """Submit one task; it is committed when this returns.

        With an ``idempotency_key`` already used, the stored task is returned instead
        (TaskConflict if it was submitted with other arguments). With a ``unique_key`` that
        a queued or running task holds, that task is returned instead. With a
        ``connection``, the task is stored in that connection's transaction instead
        (``enqueue_many``).
        """
        new = NewTask(
            action=action,
            data={} if data is None else data,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            timeout_s=timeout_s,
            run_at=run_at,
            idempotency_key=idempotency_key,
            unique_key=unique_key,
        )
        (task,) = await self.enqueue_many([new], connection=connection)
        return task

    async def enqueue_many(
        self, tasks: Sequence[NewTask], *, connection: object | None = None
    ) -> list[Task]:
        """Submit tasks in one commit: all are stored, or none.

        A task whose idempotency key is stored already is not stored again: the stored task
        takes its place in the answer (its ``id`` differs from the NewTask's). A key used
        for a different task raises KeyReused, naming the first such task's position;
        with several tasks, the keys are looked up first, so that nothing is stored then.
        A task whose unique key a queued or running task holds (one stored before, or one
        earlier in ``tasks``) is not stored either: that task takes its place.

        With a ``connection`` (your own open ``psycopg.Connection``, ``AsyncConnection``
        or ``sqlite3.Connection`` to this store), the tasks are inserted in its current
        transaction and nothing is committed: they exist if and only if it commits.
        Workers are woken, and the tasks told as submitted, once it has (rolled back, they
        never were). A taken key is read on ``connection``, so it sees your transaction; a
        KeyReused found there may leave earlier tasks inserted: roll back. TypeError for a
        connection this store cannot use (or on ``memory://``), ValueError for one to
        another SQLite file; errors of the connection itself reach you as they are.
        """
        ready = [storable(t) for t in tasks]
        if not ready:
            return []
        if len(ready) > 1 and any(t.idempotency_key for t in ready):
            await self._check_keys(ready)
        now = time.time()
        uncommitted = None
        if connection is None:
            stored = await self.driver.enqueue(ready, now=now)
        else:
            uncommitted = await self.driver.enqueue_in(connection, ready, now=now)
            stored = uncommitted.tasks
        submitted: list[Task] = []
        reused: KeyReused | None = None
        for index, (new, task) in enumerate(zip(ready, stored, strict=True)):
            if task.id == new.id and task.created_at == now:  # stored by this call
                submitted.append(task)
            elif _key_reused(new, task) and reused is None:
                reused = KeyReused(new, index)
        if uncommitted is None:
            for task in submitted:
                self.events.task("submitted", task, at=now)
        elif submitted:
            self._watch(uncommitted, submitted, now)
        if reused is not None:
            raise reused
        return stored

    def _watch(self, uncommitted: Uncommitted, submitted: list[Task], now: float) -> None:
        """Tell ``submitted`` (and wake workers for them) once the transaction they were
        stored in has committed; Python's drivers call no one back at a commit."""
        watcher = asyncio.create_task(self._when_committed(uncommitted, submitted, now))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _when_committed(
        self, uncommitted: Uncommitted, submitted: list[Task], now: float
    ) -> None:
        waited_s = 0.0
        while uncommitted.is_open():
            await asyncio.sleep(TRANSACTION_POLL_S)
            waited_s += TRANSACTION_POLL_S
            # A connection seen busy at every look may have committed ours and opened
            # the next transaction between two looks: the tasks found stored tell.
            if waited_s >= TRANSACTION_RECHECK_S:
                waited_s = 0.0
                if await self._committed(uncommitted, submitted, now):
                    return
        await self._committed(uncommitted, submitted, now)

    async def _committed(self, uncommitted: Uncommitted, submitted: list[Task], now: float) -> bool:
        """Tell those of ``submitted`` that are stored; whether there were any."""
        try:
            kept = await uncommitted.committed(submitted)
        except TaskqError as exc:  # workers still poll; only the events are lost
            log.warning("could not tell whether enqueued tasks were committed: %s", exc)
            return True
        for task in kept:
            self.events.task("submitted", task, at=now)
        return bool(kept)

    async def _check_keys(self, ready: Sequence[NewTask]) -> None:
        """Raise KeyReused if a key of ``ready`` is stored, or given earlier in it, for a
        different task. (A key another request stores between this read and the write is
        still caught after it.)"""
        keys = tuple(dict.fromkeys(t.idempotency_key for t in ready if t.idempotency_key))
        found = await self.driver.list_tasks(TaskFilter(idempotency_keys=keys), limit=len(keys))
        asked = {t.idempotency_key: t.fingerprint for t in found}
        for index, new in enumerate(ready):
            if new.idempotency_key:
                fingerprint = asked.setdefault(new.idempotency_key, new.fingerprint)
                if fingerprint != new.fingerprint:
                    raise KeyReused(new, index)

    async def cancel(self, task_id: str) -> Task:
        """Cancel a queued task at once, or ask its worker to stop a running one.

        Raises TaskNotFound, or TaskConflict for a task already finished.
        """
        now = time.time()
        task = await self.driver.cancel(task_id, now=now)
        if task is None:
            raise TaskNotFound(f"task {task_id} not found")
        if task.status.is_terminal and task.status is not Status.CANCELLED:
            raise TaskConflict(f"task {task_id} is already {task.status}")
        # a running one tells when its worker stops; one cancelled before is not news
        if task.status is Status.CANCELLED and task.processed_at == now:
            self.events.task("cancelled", task, at=now)
        return task

    async def retry(self, task_id: str) -> Task:
        """Queue a failed or cancelled task again, with a fresh attempt budget."""
        now = time.time()
        requeued, task = await self.driver.requeue(task_id, now=now)
        if task is None:
            raise TaskNotFound(f"task {task_id} not found")
        if not requeued and task.status.is_terminal and task.unique_key is not None:
            raise TaskConflict(
                f"a later task took unique key {task.unique_key!r}: retry that one instead"
            )
        if not requeued:
            raise TaskConflict(
                f"only failed or cancelled tasks can be retried; this one is {task.status}"
            )
        self.events.task("retried", task, at=now)
        return task

    async def get(self, task_id: str) -> Task | None:
        return await self.driver.get(task_id)

    async def list_tasks(
        self,
        task_filter: TaskFilter = EVERY_TASK,
        *,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        """The tasks ``task_filter`` matches, newest first; pass the last task's ``seq`` as
        ``before_seq`` for the next page. InvalidTask names a bad filter field."""
        task_filter.check()
        return await self.driver.list_tasks(task_filter, limit=limit, before_seq=before_seq)

    async def tasks_by_id(self, task_ids: Sequence[str]) -> list[Task]:
        """The stored tasks of ``task_ids`` (however many: one read), in no set order; an
        id no task has, or not written as the store writes ids, finds nothing."""
        ids = tuple(i for i in dict.fromkeys(task_ids) if is_canonical_uuid(i))
        if not ids:
            return []
        # the list of ids is the service's own (not a user's filter): no MAX_FILTER_VALUES
        return await self.driver.list_tasks(TaskFilter(ids=ids), limit=len(ids))

    async def delete(self, task_id: str) -> Task:
        """Delete a finished task; returns it as it was.

        Raises TaskNotFound, or TaskConflict for a task still queued or running.
        """
        deleted, task = await self.driver.delete(task_id)
        if task is None:
            raise TaskNotFound(f"task {task_id} not found")
        if not deleted:
            raise TaskConflict(
                f"task {task_id} is {task.status}: only a finished task can be deleted"
                " (cancel it first)"
            )
        self.events.task("deleted", task, at=time.time())
        return task

    async def retry_matching(
        self, task_filter: TaskFilter, *, limit: int = DEFAULT_BULK_LIMIT, all_tasks: bool = False
    ) -> BulkResult:
        """Queue up to ``limit`` of the failed or cancelled tasks ``task_filter`` matches
        again, as ``retry`` does one. The empty filter needs ``all_tasks``."""
        self._check_bulk(task_filter, limit, all_tasks)
        done = await self.driver.retry_matching(task_filter, limit=limit, now=time.time())
        return self._told(done, "retried")

    async def cancel_matching(
        self, task_filter: TaskFilter, *, limit: int = DEFAULT_BULK_LIMIT, all_tasks: bool = False
    ) -> BulkResult:
        """Cancel up to ``limit`` of the queued tasks ``task_filter`` matches, and ask the
        running ones to stop, as ``cancel`` does one. The empty filter needs ``all_tasks``."""
        self._check_bulk(task_filter, limit, all_tasks)
        done = await self.driver.cancel_matching(task_filter, limit=limit, now=time.time())
        return self._told(done, "cancelled")

    async def delete_matching(
        self, task_filter: TaskFilter, *, limit: int = DEFAULT_BULK_LIMIT, all_tasks: bool = False
    ) -> BulkResult:
        """Delete up to ``limit`` of the finished tasks ``task_filter`` matches. The empty
        filter needs ``all_tasks``."""
        self._check_bulk(task_filter, limit, all_tasks)
        done = await self.driver.delete_matching(task_filter, limit=limit)
        return self._told(done, "deleted")

    def _told(self, done: BulkResult, what: str) -> BulkResult:
        if done.changed:
            self.events.resync(f"{done.changed} tasks {what}")
        return done

    @staticmethod
    def _check_bulk(task_filter: TaskFilter, limit: int, all_tasks: bool) -> None:
        # a forgotten filter must not reach every task: that takes saying so
        if task_filter.is_empty and not all_tasks:
            raise InvalidTask("give a filter, or all to act on every task", field="filter")
        if all_tasks and not task_filter.is_empty:
            raise InvalidTask("give a filter or all, not both", field="all")
        task_filter.check()
        if not 1 <= limit <= MAX_BULK_LIMIT:
            raise InvalidTask(f"limit must be between 1 and {MAX_BULK_LIMIT}", field="limit")

    async def counts(self) -> dict[Status, int]:
        return await self.driver.counts()

    async def queue_stats(self, *, limit: int = MAX_QUEUES) -> QueueList:
        """The queues that have tasks, by name (at most ``limit``), each with its counts
        by status, the age of its oldest ready task and its recent throughput."""
        return await self.driver.queue_stats(now=time.time(), windows=WINDOWS_S, limit=limit)

    async def update_queue(
        self,
        name: str,
        *,
        paused: bool | None = None,
        concurrency: int | Literal[Keep.KEEP] | None = KEEP,
        rate: Rate | str | Literal[Keep.KEEP] | None = KEEP,
        key_concurrency: int | Literal[Keep.KEEP] | None = KEEP,
    ) -> QueueSettings:
        """Pause or resume queue ``name``, or set its concurrency, its rate (``"100/s"``,
        ``Rate(100, 1.0)``) or its concurrency per key (None: unlimited; per key: 1); what
        is not given is kept. Workers obey at their next claim (taskq/flow.py)."""
        flow.check_queue_name(name, field="name")
        if concurrency is not KEEP:
            flow.check_concurrency(concurrency)
        if isinstance(rate, str):
            rate = Rate.parse(rate)
        elif rate is not KEEP:
            flow.check_rate(rate)
        if key_concurrency is not KEEP:
            flow.check_concurrency(key_concurrency, field="key_concurrency")
        return await self.driver.update_queue(
            name,
            paused=paused,
            concurrency=concurrency,
            rate=rate,
            key_concurrency=key_concurrency,
            now=time.time(),
        )

    async def queue_settings(self) -> dict[str, QueueSettings]:
        """Every queue's stored flow control, by name (one left out has the defaults)."""
        return await self.driver.queue_settings()

    async def stats(self) -> StoreStats:
        """The whole store's counts by status, and its throughput, wait and run times over
        the last 1, 5 and 15 minutes."""
        now = time.time()
        counts = await self.driver.counts()
        windows = await self.driver.window_stats(
            now=now, windows=WINDOWS_S, sample_size=SAMPLE_SIZE
        )
        return StoreStats(now, counts, windows)

    async def workers(self) -> list[WorkerInfo]:
        """The live workers (``roster.py`` says when one stops being), oldest first, each
        with the tasks it runs now."""
        return await self.driver.workers(now=time.time())

    async def schedules(self) -> list[Schedule]:
        """Each cron schedule some live worker runs, once per action and expression: its
        next tick and the last one enqueued."""
        pairs = scheduled(await self.driver.workers(now=time.time()))
        last_ticks = await self.driver.last_ticks([action for action, _ in pairs])
        return schedules(pairs, last_ticks, now=time.time())

    async def ping(self) -> None:
        await self.driver.ping()
