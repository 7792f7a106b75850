"""The embedded default driver: one SQLite file, durable, zero setup.

Writes go through one connection and are group committed (writer.py): every write asked
for while the previous transaction commits joins the next one, so N concurrent enqueues
cost one commit, not N. Each write still returns only after its commit. Reads use a second
connection on another thread (WAL lets them run beside the writer).

Durability: WAL journal. With ``synchronous=FULL`` (the default) a *promise* to a caller
(a task accepted, a cancel, a retry) is fsynced before the call returns, so it survives a
process crash (kill -9), an OS crash and power loss. A worker's bookkeeping (claims, starts,
results, re-queues) commits at once but is fsynced within ``worker_sync_ms`` (20 by
default) rather than one commit at a time: after a power loss the last few milliseconds of
it may roll back, which makes those tasks run again (delivery is at least once anyway),
while nothing accepted is lost. A fsync inside the write lock would otherwise serialise
every worker process on the disk. ``worker_sync_ms=0`` fsyncs every commit. ``NORMAL``
fsyncs no commit: it survives a process crash but may lose the last commits on power loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from taskq import codec
from taskq.drivers import rows
from taskq.drivers.rows import COLUMNS, LEASE_LOST, row_to_task
from taskq.drivers.sqlite import admin, flow, in_transaction, keys, merged, metrics, roster
from taskq.drivers.sqlite.connection import Synchronous, connect, free_bytes
from taskq.drivers.sqlite.writer import MergedOp, Writer, check_writable
from taskq.drivers.statements import load
from taskq.drivers.wakeups import Datagrams
from taskq.errors import SchemaMismatch, StoreUnavailable
from taskq.events import Deliver
from taskq.filters import EVERY_TASK, BulkResult, TaskFilter
from taskq.flow import KEEP, Keep, QueueSettings, Rate
from taskq.keys import StoredKey
from taskq.metrics import Finished, Submitted
from taskq.roster import WorkerInfo
from taskq.stats import QueueList, WindowStats
from taskq.task import AttemptError, Claimed, NewTask, Status, Task

T = TypeVar("T")
SQL = load("taskq.drivers.sqlite")
GET = SQL["get"].format(columns=COLUMNS)
REQUEUE = SQL["requeue"].format(retryable=SQL["retryable"])
CLAIM = {
    ready: SQL["claim"].format(ready=SQL[ready].strip(), columns=COLUMNS)
    for ready in ("ready_any_queue", "ready_in_queue", "ready_in_queues")
}
# Below this much free space on the database's file system the store is not ready: the
# WAL grows with every commit, and a write that cannot get its pages fails.
MIN_FREE_BYTES = 1024 * 1024


class SqliteDriver:
    """Tasks in one SQLite file (see the module docstring for durability).

    ``ping`` fails, as for an unreadable store, while the file system holds less than
    ``min_free_bytes`` or the last write failed for want of disk: ready means writable.
    """

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = "FULL",
        worker_sync_ms: int = 20,
        min_free_bytes: int = MIN_FREE_BYTES,
    ) -> None:
        self.path = path
        self.url = path
        self.synchronous: Synchronous = synchronous
        self.worker_sync_ms = worker_sync_ms
        self.min_free_bytes = min_free_bytes
        self._writer: Writer | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._read_thread: ThreadPoolExecutor | None = None
        self._wakeups = Datagrams(None if path == ":memory:" else path)

    # lifecycle

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._write_conn = connect(self.path, synchronous=self.synchronous, busy_timeout_ms=0)
            self._read_conn = connect(self.path, synchronous=self.synchronous)
            self._read_conn.execute(SQL["ping"])
        except sqlite3.Error as exc:
            await self.close()
            if "no such table" in str(exc):
                raise SchemaMismatch(
                    f"no taskq tables in {self.path}: run `taskq migrate` first"
                ) from exc
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._writer = Writer(
            self._write_conn,
            synchronous=self.synchronous,
            lazy_sync_s=self.worker_sync_ms / 1000,
            wal_path=None if self.path == ":memory:" else f"{self.path}-wal",
        )
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="taskq-sqlite-reader")
        self._wakeups.open()

    async def close(self) -> None:
        self._wakeups.close()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._read_thread is not None:
            self._read_thread.shutdown(wait=True)
            self._read_thread = None
        for conn in (self._write_conn, self._read_conn):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
        self._write_conn = self._read_conn = None

    def _open_writer(self) -> Writer:
        if self._writer is None:
            raise StoreUnavailable("the SQLite driver is not open")
        return self._writer

    async def _write(self, op: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """A write; ``durable`` for a promise to a caller, not for worker bookkeeping (the
        safe default: a write nobody classified is fsynced before it returns)."""
        return await self._open_writer().write(op, durable=durable)

    async def _bookkeeping(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """A worker's write: committed at once, fsynced within ``worker_sync_ms``."""
        return await self._write(op, durable=False)

    async def _merged(self, op: MergedOp, item: Any, *, durable: bool = False) -> Any:
        """A write merged with the others of its kind waiting for the same transaction."""
        return await self._open_writer().write_merged(op, item, durable=durable)

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        conn, thread = self._read_conn, self._read_thread
        if conn is None or thread is None:
            raise StoreUnavailable("the SQLite driver is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(thread, op, conn)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database read failed: {exc}") from exc

    # producers

    async def enqueue(self, tasks: Sequence[NewTask], *, now: float) -> list[Task]:
        insert_rows = [merged.insert_row(t, now) for t in tasks]
        stored: list[int | Task] = await self._merged(merged.insert, insert_rows, durable=True)
        if any(row[merged.RUN_AT] <= now for row in insert_rows):  # a task due later wakes no one
            self._wakeups.work_available()
        return [
            found if isinstance(found, Task) else rows.enqueued(t, seq=found, now=now)
            for found, t in zip(stored, tasks, strict=True)
        ]

    async def enqueue_in(
        self, connection: object, tasks: Sequence[NewTask], *, now: float
    ) -> in_transaction.Uncommitted:
        conn = in_transaction.check_connection(connection, self.path)
        stored = in_transaction.insert(conn, tasks, now)
        return in_transaction.Uncommitted(
            conn, stored, self._stored_ids, self._wakeups.work_available
        )

    async def _stored_ids(self, task_ids: Sequence[str]) -> set[str]:
        found = await self.list_tasks(TaskFilter(ids=tuple(task_ids)), limit=len(task_ids))
        return {t.id for t in found}

    async def cancel(self, task_id: str, *, now: float) -> Task | None:
        def cancel(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            conn.execute(SQL["cancel_queued"], (now, task_id))
            conn.execute(SQL["cancel_running"], (task_id,))
            row: tuple[Any, ...] | None = conn.execute(GET, (task_id,)).fetchone()
            return row

        row = await self._write(cancel)
        return None if row is None else row_to_task(row)

    async def requeue(self, task_id: str, *, now: float) -> tuple[bool, Task | None]:
        def requeue(conn: sqlite3.Connection) -> tuple[int, tuple[Any, ...] | None]:
            changed = conn.execute(REQUEUE, (now, task_id)).rowcount
            return changed, conn.execute(GET, (task_id,)).fetchone()

        changed, row = await self._write(requeue)
        if changed:
            self._wakeups.work_available()
        return bool(changed), None if row is None else row_to_task(row)

    async def delete(self, task_id: str) -> tuple[bool, Task | None]:
        deleted, row = await self._write(lambda c: admin.delete(c, task_id))
        return deleted, None if row is None else row_to_task(row)

    async def retry_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        result = await self._write(
            admin.bulk("requeue_matching", "retryable", task_filter, limit, now)
        )
        if result.changed:
            self._wakeups.work_available()
        return result

    async def cancel_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        return await self._write(
            admin.bulk("cancel_matching", "cancellable", task_filter, limit, now)
        )

    async def delete_matching(self, task_filter: TaskFilter, *, limit: int) -> BulkResult:
        return await self._write(
            admin.bulk("delete_matching", "deletable", task_filter, limit, None)
        )

    async def prune(self, *, before: float, limit: int) -> int:
        return await self._bookkeeping(lambda c: c.execute(SQL["prune"], (before, limit)).rowcount)

    # readers

    async def get(self, task_id: str) -> Task | None:
        row = await self._read(lambda c: c.execute(GET, (task_id,)).fetchone())
        return None if row is None else row_to_task(row)

    async def list_tasks(
        self,
        task_filter: TaskFilter = EVERY_TASK,
        *,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        where, args = rows.filter_clause(
            SQL, task_filter, before_seq=before_seq, value_list=codec.encode
        )
        query = SQL["list"].format(columns=COLUMNS, where=where)
        found = await self._read(lambda c: c.execute(query, {**args, "limit": limit}).fetchall())
        return [row_to_task(r) for r in found]

    async def counts(self) -> dict[Status, int]:
        return rows.counts(await self._read(lambda c: c.execute(SQL["counts"]).fetchall()))

    async def queue_stats(self, *, now: float, windows: Sequence[int], limit: int) -> QueueList:
        return await self._read(
            lambda c: admin.queue_stats(c, now=now, windows=windows, limit=limit)
        )

    async def window_stats(
        self, *, now: float, windows: Sequence[int], sample_size: int
    ) -> list[WindowStats]:
        return await self._read(
            lambda c: admin.window_stats(c, now=now, windows=windows, sample_size=sample_size)
        )

    async def finished_between(self, *, after: float, until: float) -> list[Finished]:
        return await self._read(lambda c: metrics.finished_between(c, after=after, until=until))

    async def submitted_after(self, *, after_seq: int, until: float) -> Submitted:
        return await self._read(
            lambda c: metrics.submitted_after(c, after_seq=after_seq, until=until)
        )

    async def seq_before(self, at: float) -> int:
        return await self._read(lambda c: metrics.seq_before(c, at))

    async def ping(self) -> None:
        on_disk = self.path != ":memory:"

        def check(conn: sqlite3.Connection) -> int | None:
            conn.execute(SQL["ping"]).fetchall()
            return free_bytes(self.path) if on_disk else None  # off the loop: NFS may hang

        try:
            free = await self._read(check)
        except OSError as exc:
            raise StoreUnavailable(f"cannot read the free space for {self.path}: {exc}") from exc
        if free is not None:
            refusal = self._writer.disk_refusal if self._writer is not None else None
            check_writable(self.path, free, self.min_free_bytes, refusal)

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
        if n < 1:
            return Claimed([], [])
        query, args = rows.claim_statement(
            CLAIM,
            worker_id=worker_id,
            n=n,
            queues=queues,
            lease_s=lease_s,
            now=now,
            start=start,
            queue_list=codec.encode,
        )
        return rows.claimed(await self._bookkeeping(lambda c: flow.claim(c, query, args, queues)))

    async def start(
        self, task_id: str, worker_id: str, *, lease_s: float, now: float
    ) -> int | None:
        attempt: int | None = await self._merged(
            merged.start, (task_id, worker_id, now, now + lease_s)
        )
        return attempt

    async def complete(self, task_id: str, worker_id: str, result_json: str, *, now: float) -> bool:
        completed: bool = await self._merged(
            merged.complete, (task_id, worker_id, result_json, now)
        )
        return completed

    async def retry_later(
        self, task_id: str, worker_id: str, error: AttemptError, *, run_at: float
    ) -> bool:
        args = {
            "at": error.at,
            "error": error.error,
            "error_json": codec.encode(error),
            "run_at": run_at,
            "id": task_id,
            "worker": worker_id,
        }
        retried = await self._bookkeeping(
            lambda c: c.execute(SQL["retry_later"], args).rowcount == 1
        )
        if retried and run_at <= time.time():
            self._wakeups.work_available()
        return retried

    async def fail(self, task_id: str, worker_id: str, error: AttemptError, *, now: float) -> bool:
        return await self._finish(Status.FAILED, task_id, worker_id, error, now=now)

    async def mark_cancelled(
        self, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        return await self._finish(Status.CANCELLED, task_id, worker_id, error, now=now)

    async def _finish(
        self, status: Status, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        args = {
            "status": status.value,
            "error": error.error,
            "error_json": codec.encode(error),
            "now": now,
            "id": task_id,
            "worker": worker_id,
        }
        return await self._bookkeeping(lambda c: c.execute(SQL["finish"], args).rowcount == 1)

    async def cancel_requests(self, worker_id: str) -> list[str]:
        found = await self._read(
            lambda c: c.execute(SQL["cancel_requests"], (worker_id,)).fetchall()
        )
        return [r[0] for r in found]

    async def release(self, task_ids: Sequence[str], worker_id: str) -> int:
        args = (worker_id, codec.encode(list(task_ids)))
        released = await self._bookkeeping(lambda c: c.execute(SQL["release"], args).rowcount)
        if released:
            self._wakeups.work_available()
        return released

    async def renew_leases(
        self, worker_id: str, task_ids: Sequence[str], *, lease_s: float, now: float
    ) -> int:
        if not task_ids:
            return 0
        args = (now + lease_s, worker_id, codec.encode(list(task_ids)))
        return await self._bookkeeping(lambda c: c.execute(SQL["renew"], args).rowcount)

    async def recover(
        self,
        *,
        now: float,
        default_max_attempts: int,
        dead_worker_ids: Sequence[str] = (),
    ) -> int:
        args = {
            "now": now,
            "now_json": codec.encode(now),  # json(): the time as given, not cut to 15 digits
            "dead": codec.encode(list(dead_worker_ids)),
            "default": default_max_attempts,
            "error": LEASE_LOST,
        }

        def recover(conn: sqlite3.Connection) -> int:
            n = conn.execute(SQL["recover_unstarted"], args).rowcount
            return n + conn.execute(SQL["recover_running"], args).rowcount

        n = await self._bookkeeping(recover)
        if n:
            self._wakeups.work_available()
        return n

    async def held_worker_ids(self) -> list[str]:
        found = await self._read(lambda c: c.execute(SQL["held_workers"]).fetchall())
        return [r[0] for r in found]

    async def listen_for_work(self) -> None:
        self._wakeups.listen()

    async def wait_for_work(self, timeout_s: float) -> None:
        await self._wakeups.wait(timeout_s)

    # events (taskq/events.py)

    async def publish_events(self, message: bytes) -> None:
        self._wakeups.publish_events(message)

    async def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        try:
            return self._wakeups.listen_events(deliver)
        except OSError as exc:
            raise StoreUnavailable(f"cannot listen for events: {exc}") from exc

    # the workers table: sqlite/roster.py

    async def announce(self, worker: WorkerInfo) -> None:
        await self._bookkeeping(lambda c: roster.announce(c, worker))

    async def beat(self, worker_id: str, *, now: float) -> bool:
        return await self._bookkeeping(lambda c: roster.beat(c, worker_id, now))

    async def retire(self, worker_id: str) -> None:
        await self._bookkeeping(lambda c: roster.retire(c, worker_id))

    async def workers(self, *, now: float) -> list[WorkerInfo]:
        return await self._read(lambda c: roster.live_workers(c, now))

    async def last_ticks(self, actions: Sequence[str]) -> dict[str, float]:
        return await self._read(lambda c: roster.last_ticks(c, actions))

    # API keys: sqlite/keys.py. A key made or revoked is a promise to the user: fsynced
    # before the call returns. last_used_at is a hint: bookkeeping.

    async def create_key(self, key: StoredKey) -> bool:
        return await self._write(lambda c: keys.create(c, key))

    async def list_keys(self) -> list[StoredKey]:
        return await self._read(keys.list_all)

    async def find_key(self, digest: str) -> StoredKey | None:
        return await self._read(lambda c: keys.find(c, digest))

    async def has_keys(self) -> bool:
        return await self._read(keys.has_any)

    async def touch_key(self, name: str, *, now: float) -> None:
        await self._bookkeeping(lambda c: keys.touch(c, name, now))

    async def revoke_key(self, name: str) -> bool:
        return await self._write(lambda c: keys.revoke(c, name))

    # flow control: sqlite/flow.py. A change is a promise to the user: fsynced before the
    # call returns.

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
        settings = await self._write(
            lambda c: flow.update(
                c,
                name,
                paused=paused,
                concurrency=concurrency,
                rate=rate,
                key_concurrency=key_concurrency,
                now=now,
            )
        )
        if not settings.paused:
            self._wakeups.work_available()
        return settings

    async def queue_settings(self) -> dict[str, QueueSettings]:
        return await self._read(flow.settings)
