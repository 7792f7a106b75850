"""The seed's in-memory store, as a driver: tasks in this process's memory only.

``--database memory://`` runs ``taskq run`` with no file at all: the API and its worker
share one store, and nothing survives a restart. It also proves the driver shape: it passes
the same contract suite as SQLite and PostgreSQL (what needs a second process aside).
Drivers opened on the same URL in one process share one store (``memory://name`` keeps
stores apart).

Every verb runs to completion without awaiting in between, so each is atomic on the event
loop, as a transaction is in a database. Stored values are kept as JSON text and decoded
on each read, so a caller never holds the store's own objects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

import msgspec

from taskq import codec, flow
from taskq.drivers import rows
from taskq.drivers.base import Uncommitted
from taskq.drivers.memory import metrics, roster, stats
from taskq.drivers.memory.store import Row, Store, stores
from taskq.drivers.rows import LEASE_LOST
from taskq.drivers.wakeups import wait_for
from taskq.errors import StoreUnavailable
from taskq.events import Deliver
from taskq.filters import EVERY_TASK, BulkResult, TaskFilter
from taskq.flow import KEEP, Keep, QueueSettings, Rate
from taskq.keys import StoredKey
from taskq.metrics import Finished, Submitted
from taskq.roster import WorkerInfo
from taskq.stats import QueueList, WindowStats
from taskq.task import TERMINAL, AttemptError, Claimed, NewTask, Status, Task, claim_order

SCHEME = "memory://"
_RETRYABLE = frozenset({Status.FAILED, Status.CANCELLED})
_ACTIVE = _CANCELLABLE = frozenset({Status.QUEUED, Status.RUNNING})


class MemoryDriver:
    """Tasks in this process's memory (see the module docstring)."""

    def __init__(self, url: str = SCHEME) -> None:
        self.url = url
        self._opened: Store | None = None
        self._new_work = asyncio.Event()

    async def open(self) -> None:
        self._opened = stores.setdefault(self.url, Store())
        self._opened.woken.add(self._new_work)

    async def close(self) -> None:
        if self._opened is not None:
            self._opened.woken.discard(self._new_work)
            self._opened = None

    @property
    def _store(self) -> Store:
        if self._opened is None:
            raise StoreUnavailable("the memory driver is not open")
        return self._opened

    def _row(self, task_id: str) -> Row | None:
        return self._store.rows.get(task_id)

    def _owned(self, task_id: str, worker_id: str, status: Status) -> Row | None:
        row = self._row(task_id)
        if row is None or row.worker_id != worker_id or row.task.status is not status:
            return None
        return row

    # producers

    async def enqueue(self, tasks: Sequence[NewTask], *, now: float) -> list[Task]:
        store, stored = self._store, []
        for new in tasks:
            if new.idempotency_key is not None and new.idempotency_key in store.by_key:
                stored.append(store.rows[store.by_key[new.idempotency_key]].read())
                continue
            holder = self._unique_holder(new.unique_key)
            if holder is not None and holder.task.status in _ACTIVE:
                stored.append(holder.read())
                continue
            task = rows.enqueued(new, seq=next(store.seqs), now=now)
            payload = codec.encode(new.data) if new.data_json is None else new.data_json
            store.rows[new.id] = row = Row(task, payload)
            if new.idempotency_key is not None:
                store.by_key[new.idempotency_key] = new.id
            if new.unique_key is not None:
                store.by_unique[new.unique_key] = new.id
            stored.append(row.read())
        if any(t.run_at <= now for t in stored):
            store.wake()
        return stored

    async def enqueue_in(
        self, connection: object, tasks: Sequence[NewTask], *, now: float
    ) -> Uncommitted:
        raise TypeError(
            f"{self.url} has no connection to share: enqueue without connection=,"
            " or use a SQLite or PostgreSQL store"
        )

    async def cancel(self, task_id: str, *, now: float) -> Task | None:
        row = self._row(task_id)
        if row is None:
            return None
        if row.task.status is Status.QUEUED:
            row.task.status, row.task.error, row.task.processed_at = (
                Status.CANCELLED,
                "cancelled",
                now,
            )
            row.let_go()
        elif row.task.status is Status.RUNNING:
            row.task.cancel_requested = True
        return row.read()

    async def requeue(self, task_id: str, *, now: float) -> tuple[bool, Task | None]:
        row = self._row(task_id)
        if row is None:
            return False, None
        if row.task.status not in (Status.FAILED, Status.CANCELLED):
            return False, row.read()
        if row.task.unique_key is not None and self._unique_holder(row.task.unique_key) is not row:
            return False, row.read()  # a later task took the key (see `retryable` in SQL)
        row.task = msgspec.structs.replace(
            row.task,
            status=Status.QUEUED,
            attempts=0,
            run_at=now,
            started_at=None,
            processed_at=None,
            cancel_requested=False,
        )
        row.result_json = None
        row.let_go()
        self._store.wake()
        return True, row.read()

    async def delete(self, task_id: str) -> tuple[bool, Task | None]:
        row = self._row(task_id)
        if row is None:
            return False, None
        if row.task.status not in TERMINAL:
            return False, row.read()
        self._forget(row)
        return True, row.read()

    def _forget(self, row: Row) -> None:
        del self._store.rows[row.task.id]
        if row.task.idempotency_key is not None:
            self._store.by_key.pop(row.task.idempotency_key, None)
        if row.task.unique_key is not None and self._unique_holder(row.task.unique_key) is row:
            # as a store's index would, the key falls back to the newest task left holding it
            older = [
                r for r in self._store.rows.values() if r.task.unique_key == row.task.unique_key
            ]
            if older:
                self._store.by_unique[row.task.unique_key] = max(
                    older, key=lambda r: r.task.seq
                ).task.id
            else:
                del self._store.by_unique[row.task.unique_key]

    def _unique_holder(self, unique_key: str | None) -> Row | None:
        """The newest task holding ``unique_key``: the only one that can be active."""
        if unique_key is None or unique_key not in self._store.by_unique:
            return None
        return self._store.rows[self._store.by_unique[unique_key]]

    async def retry_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        found = [
            row
            for row in self._newest_first(task_filter, _RETRYABLE)
            if row.task.unique_key is None or self._unique_holder(row.task.unique_key) is row
        ]
        for row in found[:limit]:
            await self.requeue(row.task.id, now=now)  # no await inside: still one step
        return BulkResult(min(len(found), limit), len(found) > limit)

    async def cancel_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        found = [
            row
            for row in self._newest_first(task_filter, _CANCELLABLE)
            if not row.task.cancel_requested
        ]
        for row in found[:limit]:
            await self.cancel(row.task.id, now=now)  # no await inside: still one step
        return BulkResult(min(len(found), limit), len(found) > limit)

    async def delete_matching(self, task_filter: TaskFilter, *, limit: int) -> BulkResult:
        found = self._newest_first(task_filter, TERMINAL)
        for row in found[:limit]:
            self._forget(row)
        return BulkResult(min(len(found), limit), len(found) > limit)

    async def prune(self, *, before: float, limit: int) -> int:
        old = [
            row
            for row in self._store.rows.values()
            if row.task.status in TERMINAL and (row.task.processed_at or 0) < before
        ][:limit]
        for row in old:
            self._forget(row)
        return len(old)

    # readers

    async def get(self, task_id: str) -> Task | None:
        row = self._row(task_id)
        return None if row is None else row.read()

    async def list_tasks(
        self,
        task_filter: TaskFilter = EVERY_TASK,
        *,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        found = [
            row
            for row in self._newest_first(task_filter)
            if before_seq is None or row.task.seq < before_seq
        ]
        return [row.read() for row in found[:limit]]

    def _newest_first(
        self, task_filter: TaskFilter, applies: frozenset[Status] | None = None
    ) -> list[Row]:
        """The rows ``task_filter`` matches (of a status in ``applies``), newest first."""
        found = [
            row
            for row in self._store.rows.values()
            if (applies is None or row.task.status in applies) and task_filter.matches(row.task)
        ]
        found.sort(key=lambda row: row.task.seq, reverse=True)
        return found

    async def counts(self) -> dict[Status, int]:
        return rows.counts(
            (status, sum(r.task.status is status for r in self._store.rows.values()))
            for status in Status
        )

    async def queue_stats(self, *, now: float, windows: Sequence[int], limit: int) -> QueueList:
        return stats.queue_stats(self._store.rows.values(), now=now, windows=windows, limit=limit)

    async def window_stats(
        self, *, now: float, windows: Sequence[int], sample_size: int
    ) -> list[WindowStats]:
        return stats.window_stats(
            self._store.rows.values(), now=now, windows=windows, sample_size=sample_size
        )

    async def finished_between(self, *, after: float, until: float) -> list[Finished]:
        return metrics.finished_between(self._store.rows.values(), after=after, until=until)

    async def submitted_after(self, *, after_seq: int, until: float) -> Submitted:
        return metrics.submitted_after(self._store.rows.values(), after_seq=after_seq, until=until)

    async def seq_before(self, at: float) -> int:
        return metrics.seq_before(self._store.rows.values(), at)

    async def ping(self) -> None:
        if self._opened is None:
            raise StoreUnavailable("the memory driver is not open")

    # workers

    async def claim(
        self,
        worker_id: str,
        n: int,
        *,
        queues: Sequence[str] | None,
        lease_s: float,
        now: float,
        start: int = 0,
    ) -> Claimed:
        # let other callers in first, as a round trip to a database would: a claim loop
        # must not starve the rest of the process
        await asyncio.sleep(0)
        ready = sorted(
            (
                row
                for row in self._store.rows.values()
                if row.task.status is Status.QUEUED
                and row.worker_id is None
                and row.task.run_at <= now
                and (not queues or row.task.queue in queues)
            ),
            key=lambda row: claim_order(row.task),
        )
        controls = self._store.queues
        if controls or any(row.task.concurrency_key is not None for row in ready):
            ready = self._flow_controlled(ready, n=n, start=start, now=now)
        ready = ready[: max(0, n)]
        started, prefetched = [], []
        for place, row in enumerate(ready):
            row.worker_id, row.lease_expires_at = worker_id, now + lease_s
            if place < start:
                row.task.status, row.task.started_at = Status.RUNNING, now
                row.task.attempts += 1
                started.append(row.read())
                settings = controls.get(row.task.queue)
                if settings is not None and settings.rate is not None:
                    self._store.starts.setdefault(row.task.queue, []).append(now)
            else:
                prefetched.append(row.read())
        return Claimed(started, prefetched)

    def _flow_controlled(self, ready: list[Row], *, n: int, start: int, now: float) -> list[Row]:
        """``ready`` (in claim order) as flow control lets a claim take it: no task of a
        paused queue, and a limited queue's tasks only among the first ``start``, as many
        as its room (taskq/flow.py: its concurrency less its running tasks, its rate less
        its starts in the window); a keyed task likewise, while its key has room."""
        controls = self._store.queues
        running: dict[str, int] = {}
        by_key: dict[tuple[str, str], int] = {}
        for row in self._store.rows.values():
            if row.task.status is Status.RUNNING and row.task.queue in controls:
                running[row.task.queue] = running.get(row.task.queue, 0) + 1
            if row.task.status is Status.RUNNING and row.task.concurrency_key is not None:
                key = (row.task.queue, row.task.concurrency_key)
                by_key[key] = by_key.get(key, 0) + 1
        starts = {name: self._starts_in_window(s, now) for name, s in controls.items() if s.rate}
        taken: list[Row] = []
        for row in ready:
            queue = row.task.queue
            settings = controls.get(queue, QueueSettings(queue))
            if settings.paused:
                continue
            keyed = row.task.concurrency_key is not None
            key = (queue, row.task.concurrency_key or "")
            if keyed and by_key.get(key, 0) >= settings.per_key:
                continue
            if settings.is_limited or keyed:
                left = flow.room(settings, running=running.get(queue), starts=starts.get(queue))
                if len(taken) >= start or (settings.is_limited and left <= 0):
                    continue  # only to start, never prefetched; and within the queue's room
                running[queue] = running.get(queue, 0) + 1
                starts[queue] = starts.get(queue, 0) + 1
                by_key[key] = by_key.get(key, 0) + 1
            taken.append(row)
            if len(taken) >= n:
                break
        return taken

    def _starts_in_window(self, settings: QueueSettings, now: float) -> int:
        """The starts of a rated queue its rate counts at ``now`` (forgetting older ones)."""
        assert settings.rate is not None
        kept = [
            at
            for at in self._store.starts.get(settings.name, [])
            if at > now - settings.rate.per_s - flow.STARTS_KEPT_EXTRA_S
        ]
        self._store.starts[settings.name] = kept
        return sum(at > now - settings.rate.per_s for at in kept)

    async def start(
        self, task_id: str, worker_id: str, *, lease_s: float, now: float
    ) -> int | None:
        row = self._owned(task_id, worker_id, Status.QUEUED)
        if row is None:
            return None
        row.task.status, row.task.started_at = Status.RUNNING, now
        row.task.attempts += 1
        row.lease_expires_at = now + lease_s
        return row.task.attempts

    async def complete(self, task_id: str, worker_id: str, result_json: str, *, now: float) -> bool:
        row = self._owned(task_id, worker_id, Status.RUNNING)
        if row is None:
            return False
        row.task.status, row.task.error, row.task.processed_at = Status.COMPLETED, None, now
        row.result_json = result_json
        row.let_go()
        return True

    async def retry_later(
        self, task_id: str, worker_id: str, error: AttemptError, *, run_at: float
    ) -> bool:
        row = self._owned(task_id, worker_id, Status.RUNNING)
        if row is None:
            return False
        self._record(row, error)
        if row.task.cancel_requested:
            row.task.status, row.task.processed_at = Status.CANCELLED, error.at
        else:
            row.task.status = Status.QUEUED
        row.task.run_at = run_at
        row.let_go()
        if row.task.status is Status.QUEUED and run_at <= time.time():
            self._store.wake()
        return True

    async def fail(self, task_id: str, worker_id: str, error: AttemptError, *, now: float) -> bool:
        return self._finish(Status.FAILED, task_id, worker_id, error, now)

    async def mark_cancelled(
        self, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        return self._finish(Status.CANCELLED, task_id, worker_id, error, now)

    def _finish(
        self, status: Status, task_id: str, worker_id: str, error: AttemptError, now: float
    ) -> bool:
        row = self._owned(task_id, worker_id, Status.RUNNING)
        if row is None:
            return False
        self._record(row, error)
        row.task.status, row.task.processed_at = status, now
        row.let_go()
        return True

    @staticmethod
    def _record(row: Row, error: AttemptError) -> None:
        row.task.error = error.error
        row.task.errors = [*row.task.errors, error]

    async def cancel_requests(self, worker_id: str) -> list[str]:
        return [
            row.task.id
            for row in self._store.rows.values()
            if row.worker_id == worker_id
            and row.task.cancel_requested
            and row.task.status is Status.RUNNING
        ]

    async def release(self, task_ids: Sequence[str], worker_id: str) -> int:
        released = [
            row
            for task_id in task_ids
            if (row := self._owned(task_id, worker_id, Status.QUEUED)) is not None
        ]
        for row in released:
            row.let_go()
        if released:
            self._store.wake()
        return len(released)

    async def renew_leases(
        self, worker_id: str, task_ids: Sequence[str], *, lease_s: float, now: float
    ) -> int:
        renewed = 0
        for task_id in task_ids:
            row = self._row(task_id)
            if row is not None and row.worker_id == worker_id:
                row.lease_expires_at = now + lease_s
                renewed += 1
        return renewed

    async def recover(
        self,
        *,
        now: float,
        default_max_attempts: int,
        dead_worker_ids: Sequence[str] = (),
    ) -> int:
        dead = set(dead_worker_ids)
        lost = [
            row
            for row in self._store.rows.values()
            if row.worker_id is not None
            and ((row.lease_expires_at or 0) < now or row.worker_id in dead)
        ]
        for row in lost:
            task = row.task
            if task.status is Status.RUNNING:
                error = AttemptError(attempt=task.attempts, error=LEASE_LOST, at=now)
                self._record(row, error)
                if task.cancel_requested:
                    task.status, task.processed_at = Status.CANCELLED, now
                elif task.attempts < (task.max_attempts or default_max_attempts):
                    task.status, task.processed_at = Status.QUEUED, None
                else:
                    task.status, task.processed_at = Status.FAILED, now
                task.run_at = now
            row.let_go()
        if lost:
            self._store.wake()
        return len(lost)

    async def held_worker_ids(self) -> list[str]:
        return sorted({r.worker_id for r in self._store.rows.values() if r.worker_id})

    async def listen_for_work(self) -> None:
        pass  # the store wakes this process's waiters directly

    async def wait_for_work(self, timeout_s: float) -> None:
        await wait_for(self._new_work, timeout_s)

    # events (taskq/events.py)

    async def publish_events(self, message: bytes) -> None:
        self._store.publish_events(message)

    async def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        listeners = self._store.event_listeners
        listeners.append(deliver)

        async def stop() -> None:
            listeners.remove(deliver)

        return stop

    # the workers table: memory/roster.py

    async def announce(self, worker: WorkerInfo) -> None:
        roster.announce(self._store, worker)

    async def beat(self, worker_id: str, *, now: float) -> bool:
        return roster.beat(self._store, worker_id, now)

    async def retire(self, worker_id: str) -> None:
        roster.retire(self._store, worker_id)

    async def workers(self, *, now: float) -> list[WorkerInfo]:
        return roster.live_workers(self._store, now)

    async def last_ticks(self, actions: Sequence[str]) -> dict[str, float]:
        return roster.last_ticks(self._store, actions)

    # API keys: the store's keys, by name (StoredKey is frozen: callers may hold them)

    async def create_key(self, key: StoredKey) -> bool:
        if key.name in self._store.keys:
            return False
        self._store.keys[key.name] = key
        return True

    async def list_keys(self) -> list[StoredKey]:
        return sorted(self._store.keys.values(), key=lambda k: k.name)

    async def find_key(self, digest: str) -> StoredKey | None:
        return next((k for k in self._store.keys.values() if k.digest == digest), None)

    async def has_keys(self) -> bool:
        return bool(self._store.keys)

    async def touch_key(self, name: str, *, now: float) -> None:
        key = self._store.keys.get(name)
        if key is not None:
            self._store.keys[name] = msgspec.structs.replace(key, last_used_at=now)

    async def revoke_key(self, name: str) -> bool:
        return self._store.keys.pop(name, None) is not None

    # flow control: the store's settings, by name (QueueSettings is frozen)

    async def update_queue(
        self,
        name: str,
        *,
        paused: bool | None = None,
        concurrency: int | Literal[Keep.KEEP] | None = KEEP,
        rate: Rate | Literal[Keep.KEEP] | None = KEEP,
        key_concurrency: int | Literal[Keep.KEEP] | None = KEEP,
        now: float,
    ) -> QueueSettings:
        current = self._store.queues.get(name, QueueSettings(name))
        settings = flow.updated(
            current,
            paused=paused,
            concurrency=concurrency,
            rate=rate,
            key_concurrency=key_concurrency,
            now=now,
        )
        self._store.queues[name] = settings
        if settings.rate is None:
            self._store.starts.pop(name, None)
        if not settings.paused:
            self._store.wake()
        return settings

    async def queue_settings(self) -> dict[str, QueueSettings]:
        return dict(sorted(self._store.queues.items()))
