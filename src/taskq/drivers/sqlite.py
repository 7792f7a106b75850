"""The embedded default driver: one SQLite file, durable, zero setup.

Writes go through one connection on one thread and are *group committed*: every write
requested while the previous transaction commits joins the next one, so N concurrent
enqueues cost one commit, not N. Each write still returns only after its commit. Reads
use a second connection on another thread (WAL lets them run beside the writer).

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
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

from taskq import codec
from taskq.drivers.rows import COLUMNS, row_to_task
from taskq.drivers.wakeup import WakeupListener, WakeupSender
from taskq.errors import StoreUnavailable
from taskq.task import AttemptError, NewTask, Status, Task

log = logging.getLogger(__name__)

T = TypeVar("T")
Synchronous = Literal["FULL", "NORMAL"]

INSERT_COLUMNS = (
    "id, action, payload, queue, priority, max_attempts, timeout_s, run_at, created_at,"
    " idempotency_key, fingerprint"
)
ROWS_PER_INSERT = 500  # 11 parameters a row: well under SQLite's 32,766 per statement
ROWS_PER_UPDATE = 1000  # 4 parameters a row
GET_BY_KEY = f"SELECT {COLUMNS} FROM tasks WHERE idempotency_key = ?"
# INDEXED BY: left to itself the planner picks tasks_status_seq and sorts every waiting task.
_READY = """
    SELECT seq FROM tasks INDEXED BY {index}
    WHERE status = 'queued' AND worker_id IS NULL AND run_at <= :now {queues}
    ORDER BY priority DESC, run_at, seq
    LIMIT :n"""
CLAIM = f"""
UPDATE tasks SET worker_id = :worker, lease_expires_at = :lease
WHERE seq IN ({_READY})
RETURNING {COLUMNS}
"""
# the same, for tasks an idle runner starts at once: one commit instead of two
CLAIM_STARTED = f"""
UPDATE tasks SET worker_id = :worker, lease_expires_at = :lease,
    status = 'running', attempts = attempts + 1, started_at = :now
WHERE seq IN ({_READY})
RETURNING {COLUMNS}
"""
# Starts and completions are batched like inserts: all those waiting for the next
# transaction go in one statement over a VALUES list ``v``, after one statement that reads
# which of them the worker still owns (in the same transaction, so nothing moves between).
OWNED = """
SELECT json_group_object(v.id, t.attempts) FROM v JOIN tasks t
    ON t.id = v.id AND t.worker_id = v.worker AND t.status = '{status}'
"""
START_MANY = """
UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = v.at,
    lease_expires_at = v.lease
FROM v WHERE tasks.id = v.id AND tasks.worker_id = v.worker AND tasks.status = 'queued'
"""
COMPLETE_MANY = """
UPDATE tasks SET status = 'completed', result = v.result, error = NULL, processed_at = v.at,
    worker_id = NULL, lease_expires_at = NULL
FROM v WHERE tasks.id = v.id AND tasks.worker_id = v.worker AND tasks.status = 'running'
"""
APPEND_ERROR = "errors = json_insert(errors, '$[#]', json(?))"
# A task whose cancellation was asked for ends cancelled rather than retried.
RETRY_LATER = """
UPDATE tasks SET
    status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
    processed_at = CASE WHEN cancel_requested THEN :at END,
    error = :error, errors = json_insert(errors, '$[#]', json(:error_json)), run_at = :run_at,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND worker_id = :worker AND status = 'running'
"""
FAIL = f"""
UPDATE tasks SET status = 'failed', error = ?, {APPEND_ERROR}, processed_at = ?,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = ? AND worker_id = ? AND status = 'running'
"""
MARK_CANCELLED = f"""
UPDATE tasks SET status = 'cancelled', error = ?, {APPEND_ERROR}, processed_at = ?,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = ? AND worker_id = ? AND status = 'running'
"""
CANCEL_QUEUED = """
UPDATE tasks SET status = 'cancelled', error = 'cancelled', processed_at = ?,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = ? AND status = 'queued'
"""
CANCEL_RUNNING = "UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND status = 'running'"
CANCEL_REQUESTS = (
    "SELECT id FROM tasks WHERE worker_id = ? AND cancel_requested = 1 AND status = 'running'"
)
REQUEUE = """
UPDATE tasks SET status = 'queued', attempts = 0, run_at = ?, result = NULL, started_at = NULL,
    processed_at = NULL, cancel_requested = 0, worker_id = NULL, lease_expires_at = NULL
WHERE id = ? AND status IN ('failed', 'cancelled')
"""
PRUNE = """
DELETE FROM tasks WHERE seq IN (
    SELECT seq FROM tasks
    WHERE status IN ('completed', 'failed', 'cancelled') AND processed_at < ?
    LIMIT ?)
"""
RELEASE = """
UPDATE tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE id = ? AND worker_id = ? AND status = 'queued'
"""
RENEW = """
UPDATE tasks SET lease_expires_at = ?
WHERE worker_id = ? AND id IN (SELECT value FROM json_each(?))
"""
# A lost worker's prefetched tasks simply go back; its running ones count a failed attempt.
RECOVER_UNSTARTED = """
UPDATE tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE worker_id IS NOT NULL AND status = 'queued' AND (lease_expires_at < ? {dead})
"""
RECOVER_RUNNING = """
UPDATE tasks SET
    status = CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN attempts < coalesce(max_attempts, :default) THEN 'queued'
                  ELSE 'failed' END,
    processed_at = CASE WHEN attempts < coalesce(max_attempts, :default) AND NOT cancel_requested
                        THEN NULL ELSE :now END,
    error = :error,
    errors = json_insert(errors, '$[#]',
        json_object('attempt', attempts, 'error', :error, 'at', :now, 'traceback', NULL)),
    run_at = :now, worker_id = NULL, lease_expires_at = NULL
WHERE worker_id IS NOT NULL AND status = 'running' AND (lease_expires_at < :now {dead})
"""
HELD_WORKERS = "SELECT DISTINCT worker_id FROM tasks WHERE worker_id IS NOT NULL"
GET = f"SELECT {COLUMNS} FROM tasks WHERE id = ?"
COUNTS = "SELECT status, count(*) FROM tasks GROUP BY status"

LEASE_LOST = "worker lost: its process died, or its lease lapsed unrenewed"
# Below this much free space on the database's file system the store is not ready: the
# WAL grows with every commit, and a write that cannot get its pages fails.
MIN_FREE_BYTES = 1024 * 1024


@functools.lru_cache(maxsize=64)
def _insert_sql(n_rows: int) -> str:
    """One INSERT for ``n_rows`` tasks; a row whose idempotency key is taken is skipped."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * n_rows)
    return (
        f"INSERT INTO tasks ({INSERT_COLUMNS}) VALUES {values}"
        " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    )


def _insert(conn: sqlite3.Connection, items: list[list[tuple[Any, ...]]]) -> list[list[int | Task]]:
    """Insert the rows of every waiting publish at once (rows in order, so seq is FIFO).

    Per row: its seq, or, when its idempotency key was taken, the task stored under it.
    No RETURNING: Python's sqlite3 gives up the GIL once per returned row, and retaking it
    from a busy event loop costs more than the insert. When every row went in, their seqs
    are the last rowid and the ones before it (we hold the write lock).
    """
    rows = [row for publish in items for row in publish]
    seqs: dict[str, int] = {}
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        params = [value for row in chunk for value in row]
        inserted = conn.execute(_insert_sql(len(chunk)), params).rowcount
        if inserted == len(chunk):
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            seqs.update((row[0], last - len(chunk) + 1 + i) for i, row in enumerate(chunk))
        else:  # some idempotency keys were taken: find which rows went in
            ids = [row[0] for row in chunk]
            found = f"SELECT id, seq FROM tasks WHERE id IN ({_placeholders(len(ids))})"
            seqs.update(conn.execute(found, ids).fetchall())
    return [
        [
            seqs[row[0]]
            if row[0] in seqs
            else row_to_task(conn.execute(GET_BY_KEY, (row[9],)).fetchone())
            for row in publish
        ]
        for publish in items
    ]


@functools.lru_cache(maxsize=256)
def _with_values(sql: str, columns: str, n_rows: int) -> str:
    """``sql`` after ``WITH v(columns) AS (VALUES …)`` holding ``n_rows`` rows."""
    row = f"({_placeholders(columns.count(',') + 1)})"
    return f"WITH v({columns}) AS (VALUES {', '.join([row] * n_rows)}) {sql}"


def _owned_then_update(
    conn: sqlite3.Connection, rows: list[tuple[Any, ...]], columns: str, status: str, update: str
) -> dict[str, int]:
    """Apply ``update`` to ``rows`` (each starting with task id and worker id); return the
    attempts of the tasks that were still the worker's, in ``status``, so were updated."""
    owned: dict[str, int] = {}
    for start in range(0, len(rows), ROWS_PER_UPDATE):
        chunk = rows[start : start + ROWS_PER_UPDATE]
        params = [value for row in chunk for value in row]
        found = conn.execute(_with_values(OWNED.format(status=status), columns, len(chunk)), params)
        owned.update(codec.decode(found.fetchone()[0]))
        conn.execute(_with_values(update, columns, len(chunk)), params)
    return owned


def _start_many(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[int | None]:
    """Start prefetched tasks: per row (id, worker, at, lease), its attempt number, or None
    when the task is no longer the worker's."""
    owned = _owned_then_update(conn, rows, "id, worker, at, lease", "queued", START_MANY)
    return [None if row[0] not in owned else owned[row[0]] + 1 for row in rows]


def _complete_many(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[bool]:
    """Record results: per row (id, worker, result, at), whether it was still the worker's."""
    owned = _owned_then_update(conn, rows, "id, worker, result, at", "running", COMPLETE_MANY)
    return [row[0] in owned for row in rows]


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


def _free_bytes(path: str) -> int:
    """Bytes still free for writes on the file system holding the file ``path``."""
    fs = os.statvfs(os.path.dirname(os.path.abspath(path)))
    # root may write into the blocks the file system reserves; others may not
    blocks = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail
    return blocks * fs.f_frsize


def _is_disk_error(error: Exception) -> bool:
    """Whether SQLite failed for want of disk: full (SQLITE_FULL), or an I/O error."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


class DiskRefusal(NamedTuple):
    """A write transaction the disk refused: SQLite's message, and the bytes then free."""

    error: str
    free_bytes: int


LOCK_TIMEOUT_S = 10.0


def connect(
    path: str, *, synchronous: Synchronous = "FULL", busy_timeout_ms: int = 10_000
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with taskq's PRAGMAs."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    use_wal(conn)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    return conn


def _retry_while_busy(
    conn: sqlite3.Connection, sql: str, *, pause_s: float, max_pause_s: float
) -> None:
    """Execute ``sql``, retrying while another process holds the lock it needs."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, max_pause_s)


def use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so); ``taskq migrate`` already did.

    Switching needs the file to itself and fails at once, whatever the busy timeout, while
    another process writes; so only switch when needed, and retry while busy.
    """
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        _retry_while_busy(conn, "PRAGMA journal_mode = WAL", pause_s=0.01, max_pause_s=0.01)


class _LockBusy(Exception):
    """Another process holds the write lock (and we were not to wait)."""


def _begin_immediate(conn: sqlite3.Connection, *, wait: bool = True) -> None:
    """Take the write lock, waiting for another process to release it (unless not ``wait``:
    then raise _LockBusy).

    SQLite's own busy handler sleeps 1 ms, then 2, 5, 10 ... between tries, while another
    process's write transaction holds the lock for a fraction of a millisecond: two
    processes writing at once (an API and a worker) would spend most of their time asleep.
    The writer connection has no busy timeout; this retries after 0.1 ms, doubling to 2 ms.
    """
    if wait:
        _retry_while_busy(conn, "BEGIN IMMEDIATE", pause_s=0.0001, max_pause_s=0.002)
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
            raise _LockBusy from exc
        raise


class _Failed:
    """The outcome of a write operation that raised."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _store_error(error: Exception) -> Exception:
    """What a caller sees: the store's failures as StoreUnavailable, anything else as is."""
    if isinstance(error, sqlite3.Error):
        return StoreUnavailable(f"database write failed: {error}")
    return error


def _apply(
    conn: sqlite3.Connection,
    ops: list[Callable[[sqlite3.Connection], Any]],
    synchronous: Synchronous | None = None,
    wait: bool = True,
) -> list[Any]:
    """Run write operations in one transaction; one op's error fails only that op.
    ``synchronous``, when given, is set first (it applies to the connection's commits);
    without ``wait``, raise _LockBusy rather than wait for another process's lock."""
    if synchronous is not None:
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    outcomes: list[Any] = []
    isolate = len(ops) > 1  # a lone op needs no savepoint: its transaction is its own
    _begin_immediate(conn, wait=wait)
    try:
        for op in ops:
            if isolate:
                conn.execute("SAVEPOINT op")
            try:
                outcomes.append(op(conn))
            except Exception as exc:
                if _is_disk_error(exc):  # not this op's fault; SQLite may have rolled back all
                    raise
                if isolate:
                    conn.execute("ROLLBACK TO op")
                outcomes.append(_Failed(exc))
            if isolate:
                conn.execute("RELEASE op")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


ManyOp = Callable[[sqlite3.Connection, list[Any]], list[Any]]
Resolve = Callable[[Any], None]


def _resolver(fut: asyncio.Future[Any]) -> Resolve:
    """Hands an op's outcome (a value or a _Failed) to the caller waiting on ``fut``."""

    def resolve(outcome: Any) -> None:
        if fut.done():  # the caller stopped waiting; the write happened all the same
            return
        if isinstance(outcome, _Failed):
            fut.set_exception(_store_error(outcome.error))
        else:
            fut.set_result(outcome)

    return resolve


def _resolver_each(futs: list[asyncio.Future[Any]]) -> Resolve:
    """Hands a merged op's outcomes out, one per caller; a failure goes to them all."""
    resolvers = [_resolver(fut) for fut in futs]

    def resolve(outcome: Any) -> None:
        for i, each in enumerate(resolvers):
            each(outcome if isinstance(outcome, _Failed) else outcome[i])

    return resolve


def _bound(many: ManyOp, items: list[Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    return lambda conn: many(conn, items)


def _fsync(path: str) -> None:
    """Flush a file's written pages to disk, whichever connection (or process) wrote them."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # no WAL: the last connection checkpointed it (and synced)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GroupCommit:
    """Batches concurrent writes into one transaction on one thread.

    ``write_many`` goes further for the hottest write (publish): every item waiting for
    the next transaction goes to one call of its operation, e.g. one multi-row INSERT.
    Each ``execute`` on the writer thread gives up and retakes the GIL, which a busy event
    loop holds, so a few statements per transaction beat a few per task.

    A lone write with nothing else in flight runs on the event loop's own thread, if the
    lock is free: handing it to the writer thread and back costs two thread wake-ups, more
    than the write itself on a quiet system. Concurrent writes are what group commit is
    for: they, and a write that would wait for the lock, go to the writer thread.

    Every commit runs at the connection's ``synchronous`` level, except with FULL and
    ``lazy_sync_s``: then a transaction made only of writes passed ``durable=False`` runs at
    NORMAL, and the WAL file (``wal_path``) is fsynced at most ``lazy_sync_s`` later.

    ``disk_refusal`` is set while the last transaction failed for want of disk (so reads
    may work while writes do not); the next one to commit clears it.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        synchronous: Synchronous = "FULL",
        lazy_sync_s: float = 0.0,
        wal_path: str | None = None,
    ) -> None:
        self._conn = conn
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="taskq-sqlite-writer")
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], Resolve]] = []
        self._pending_many: dict[ManyOp, list[tuple[Any, asyncio.Future[Any]]]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._level = synchronous
        lazy = synchronous == "FULL" and wal_path is not None
        self._lazy_sync_s = lazy_sync_s if lazy else 0.0
        self._wal_path = wal_path
        self._pending_durable = False
        self._synchronous: Synchronous | None = synchronous  # the connection's; None: unknown
        self._sync_timer: asyncio.TimerHandle | None = None
        self._syncing: asyncio.Future[None] | None = None
        self.disk_refusal: DiskRefusal | None = None

    async def write(self, op: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``op`` inside the next transaction; return once that transaction committed
        (and, if ``durable``, reached the disk)."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, _resolver(fut)))
        self._pending_durable |= durable
        self._ensure_flushing()
        return await fut

    async def write_many(self, op: ManyOp, item: Any, *, durable: bool = True) -> Any:
        """Pass ``item``, with the others waiting, to one ``op(conn, items)`` call in the next
        transaction; ``op`` returns one outcome per item. Returns this item's outcome."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_many.setdefault(op, []).append((item, fut))
        self._pending_durable |= durable
        self._ensure_flushing()
        return await fut

    def _ensure_flushing(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def _take_batch(self) -> list[tuple[Callable[[sqlite3.Connection], Any], Resolve]]:
        batch = self._pending
        for many, entries in self._pending_many.items():
            batch.append(
                (
                    _bound(many, [item for item, _ in entries]),
                    _resolver_each([fut for _, fut in entries]),
                )
            )
        self._pending, self._pending_many = [], {}
        return batch

    def _next_mode(self) -> Synchronous:
        """The synchronous level the next transaction needs: NORMAL when every write in it
        may be synced later."""
        lazy = self._lazy_sync_s > 0 and not self._pending_durable
        self._pending_durable = False
        return "NORMAL" if lazy else self._level

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        first = True
        try:
            while self._pending or self._pending_many:
                lone = (
                    first and len(self._pending) + sum(map(len, self._pending_many.values())) == 1
                )
                first = False
                mode = self._next_mode()
                change = mode if mode != self._synchronous else None
                batch = self._take_batch()
                ops = [op for op, _ in batch]
                try:
                    outcomes = self._apply_here(ops, change) if lone else None
                    if outcomes is None:
                        outcomes = await loop.run_in_executor(
                            self._thread, _apply, self._conn, ops, change
                        )
                    self._synchronous = mode
                    self.disk_refusal = None
                except Exception as exc:  # the transaction itself failed: so did every op
                    log.warning("write transaction failed: %s", exc)
                    outcomes = [_Failed(exc)] * len(batch)
                    self._synchronous = None  # unknown: set it again next time
                    if _is_disk_error(exc):
                        self.disk_refusal = self._refusal(exc)
                if mode != self._level:  # this commit deferred its fsync
                    self._sync_soon(loop)
                for (_, resolve), outcome in zip(batch, outcomes, strict=True):
                    resolve(outcome)
        finally:
            self._flusher = None

    def _refusal(self, error: Exception) -> DiskRefusal:
        free = 0
        if self._wal_path is not None:
            try:
                free = _free_bytes(self._wal_path)
            except OSError as exc:
                log.warning("cannot read the free disk space: %s", exc)
        return DiskRefusal(str(error), free)

    def _apply_here(
        self, ops: list[Callable[[sqlite3.Connection], Any]], change: Synchronous | None
    ) -> list[Any] | None:
        """The transaction on this thread, or None if another process holds the lock."""
        try:
            return _apply(self._conn, ops, change, wait=False)
        except _LockBusy:
            return None

    def _sync_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sync_timer is None:
            self._sync_timer = loop.call_later(self._lazy_sync_s, self._start_sync, loop)

    def _start_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sync_timer = None
        assert self._wal_path is not None
        # off the loop, since fsync blocks; it never touches the connection, so it may run
        # beside a transaction (one running on the loop's thread, see _apply_here)
        self._syncing = loop.run_in_executor(self._thread, _fsync, self._wal_path)
        self._syncing.add_done_callback(self._synced)

    def _synced(self, fut: asyncio.Future[None]) -> None:
        if not fut.cancelled() and (exc := fut.exception()) is not None:
            log.error("fsync of the SQLite WAL failed: %s", exc)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._sync_timer is not None:  # what is committed but not yet on disk: sync now
            self._sync_timer.cancel()
            self._start_sync(asyncio.get_running_loop())
        if self._syncing is not None:
            with contextlib.suppress(OSError):
                await self._syncing
        self._thread.shutdown(wait=True)


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
        self._writer: GroupCommit | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._read_thread: ThreadPoolExecutor | None = None
        self._new_work = asyncio.Event()
        self._listener: WakeupListener | None = None
        self._sender: WakeupSender | None = None

    # lifecycle

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._write_conn = connect(self.path, synchronous=self.synchronous, busy_timeout_ms=0)
            self._read_conn = connect(self.path, synchronous=self.synchronous)
            self._read_conn.execute("SELECT 1 FROM tasks LIMIT 0")
        except sqlite3.Error as exc:
            await self.close()
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._writer = GroupCommit(
            self._write_conn,
            synchronous=self.synchronous,
            lazy_sync_s=self.worker_sync_ms / 1000,
            wal_path=None if self.path == ":memory:" else f"{self.path}-wal",
        )
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="taskq-sqlite-reader")
        if self.path != ":memory:":
            self._listener = WakeupListener(self.path, self._new_work.set)
            self._sender = WakeupSender(self.path, own=self._listener)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._sender is not None:
            self._sender.close()
            self._sender = None
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

    async def _write(self, op: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """A write; ``durable`` for a promise to a caller, not for worker bookkeeping (the
        safe default: a write nobody classified is fsynced before it returns)."""
        if self._writer is None:
            raise StoreUnavailable("the SQLite driver is not open")
        return await self._writer.write(op, durable=durable)

    async def _bookkeeping(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """A worker's write: committed at once, fsynced within ``worker_sync_ms``."""
        return await self._write(op, durable=False)

    async def _write_many(self, many: ManyOp, item: Any) -> Any:
        """A worker's write merged with its kind waiting for the same transaction."""
        if self._writer is None:
            raise StoreUnavailable("the SQLite driver is not open")
        return await self._writer.write_many(many, item, durable=False)

    def _work_available(self) -> None:
        """Wake consumers here at once, and in other processes through their sockets."""
        self._new_work.set()
        if self._sender is not None:
            self._sender.poke()

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        conn, thread = self._read_conn, self._read_thread
        if conn is None or thread is None:
            raise StoreUnavailable("the SQLite driver is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(thread, op, conn)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"database read failed: {exc}") from exc

    # producers

    async def publish(self, tasks: Sequence[NewTask], *, now: float) -> list[Task]:
        rows = [
            (
                t.id,
                t.action,
                codec.encode(t.data),
                t.queue,
                t.priority,
                t.max_attempts,
                t.timeout_s,
                now if t.run_at is None else t.run_at,
                now,
                t.idempotency_key,
                t.fingerprint,
            )
            for t in tasks
        ]

        if self._writer is None:
            raise StoreUnavailable("the SQLite driver is not open")
        stored: list[int | Task] = await self._writer.write_many(_insert, rows)
        self._work_available()
        return [
            seq_or_task
            if isinstance(seq_or_task, Task)
            else Task(
                seq=seq_or_task,
                id=t.id,
                action=t.action,
                payload=t.data,
                status=Status.QUEUED,
                queue=t.queue,
                priority=t.priority,
                max_attempts=t.max_attempts,
                timeout_s=t.timeout_s,
                run_at=row[7],
                created_at=now,
                idempotency_key=t.idempotency_key,
                fingerprint=t.fingerprint,
            )
            for seq_or_task, row, t in zip(stored, rows, tasks, strict=True)
        ]

    async def cancel(self, task_id: str, *, now: float) -> Task | None:
        def cancel(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            conn.execute(CANCEL_QUEUED, (now, task_id))
            conn.execute(CANCEL_RUNNING, (task_id,))
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
            self._work_available()
        return bool(changed), None if row is None else row_to_task(row)

    async def prune(self, *, before: float, limit: int) -> int:
        return await self._bookkeeping(lambda c: c.execute(PRUNE, (before, limit)).rowcount)

    # readers

    async def get(self, task_id: str) -> Task | None:
        row = await self._read(lambda c: c.execute(GET, (task_id,)).fetchone())
        return None if row is None else row_to_task(row)

    async def list_tasks(
        self,
        *,
        status: Status | None = None,
        action: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        where: list[str] = []
        args: list[object] = []
        if status is not None:
            where.append("status = ?")
            args.append(str(status))
        if action is not None:
            where.append("action = ?")
            args.append(action)
        if before_seq is not None:
            where.append("seq < ?")
            args.append(before_seq)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {COLUMNS} FROM tasks {clause} ORDER BY seq DESC LIMIT ?"
        rows = await self._read(lambda c: c.execute(sql, (*args, limit)).fetchall())
        return [row_to_task(r) for r in rows]

    async def counts(self) -> dict[Status, int]:
        rows = await self._read(lambda c: c.execute(COUNTS).fetchall())
        found = {Status(s): n for s, n in rows}
        return {s: found.get(s, 0) for s in Status}

    async def ping(self) -> None:
        on_disk = self.path != ":memory:"

        def check(conn: sqlite3.Connection) -> int | None:
            conn.execute("SELECT 1 FROM tasks LIMIT 0").fetchall()
            return _free_bytes(self.path) if on_disk else None  # off the loop: NFS may hang

        try:
            free = await self._read(check)
        except OSError as exc:
            raise StoreUnavailable(f"cannot read the free space for {self.path}: {exc}") from exc
        if free is None:
            return
        if free < self.min_free_bytes:
            raise StoreUnavailable(
                f"disk full: {free} bytes free on the file system of {self.path},"
                f" under the {self.min_free_bytes} it needs"
            )
        refusal = self._writer.disk_refusal if self._writer is not None else None
        # How much the refused write needed is unknown: the disk counts as back once more
        # than the margin we keep has been freed since.
        if refusal is not None and free <= refusal.free_bytes + self.min_free_bytes:
            raise StoreUnavailable(
                f"the disk refused the last write to {self.path} ({refusal.error})"
                " and not enough space was freed since"
            )

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
    ) -> list[Task]:
        names = [f":queue{i}" for i in range(len(queues or ()))]
        params: dict[str, Any] = {"worker": worker_id, "lease": now + lease_s, "now": now}
        params.update({name[1:]: q for name, q in zip(names, queues or (), strict=True)})
        shape = {
            "queues": f"AND queue IN ({', '.join(names)})" if names else "",
            "index": "tasks_ready_by_queue" if len(names) == 1 else "tasks_ready",
        }
        started_sql, claimed_sql = CLAIM_STARTED.format(**shape), CLAIM.format(**shape)
        start = max(0, min(start, n))

        def claim(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rows = conn.execute(started_sql, {**params, "n": start}).fetchall() if start else []
            if n > start:  # the started ones are owned now, so these are the next in line
                rows += conn.execute(claimed_sql, {**params, "n": n - start}).fetchall()
            return rows

        tasks = [row_to_task(r) for r in await self._bookkeeping(claim)]
        # RETURNING gives no order guarantee; started ones go first, as they were first
        tasks.sort(key=lambda t: (t.status is not Status.RUNNING, -t.priority, t.run_at, t.seq))
        return tasks

    async def start(
        self, task_id: str, worker_id: str, *, lease_s: float, now: float
    ) -> int | None:
        attempt: int | None = await self._write_many(
            _start_many, (task_id, worker_id, now, now + lease_s)
        )
        return attempt

    async def complete(self, task_id: str, worker_id: str, result_json: str, *, now: float) -> bool:
        completed: bool = await self._write_many(
            _complete_many, (task_id, worker_id, result_json, now)
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
        retried = await self._bookkeeping(lambda c: c.execute(RETRY_LATER, args).rowcount == 1)
        if retried and run_at <= time.time():
            self._work_available()
        return retried

    async def fail(self, task_id: str, worker_id: str, error: AttemptError, *, now: float) -> bool:
        args = (error.error, codec.encode(error), now, task_id, worker_id)
        return await self._bookkeeping(lambda c: c.execute(FAIL, args).rowcount == 1)

    async def mark_cancelled(
        self, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        args = (error.error, codec.encode(error), now, task_id, worker_id)
        return await self._bookkeeping(lambda c: c.execute(MARK_CANCELLED, args).rowcount == 1)

    async def cancel_requests(self, worker_id: str) -> list[str]:
        rows = await self._read(lambda c: c.execute(CANCEL_REQUESTS, (worker_id,)).fetchall())
        return [r[0] for r in rows]

    async def release(self, task_ids: Sequence[str], worker_id: str) -> int:
        args = [(task_id, worker_id) for task_id in task_ids]
        released = await self._bookkeeping(lambda c: c.executemany(RELEASE, args).rowcount)
        if released:
            self._work_available()
        return released

    async def renew_leases(
        self, worker_id: str, task_ids: Sequence[str], *, lease_s: float, now: float
    ) -> int:
        if not task_ids:
            return 0
        args = (now + lease_s, worker_id, codec.encode(list(task_ids)))
        return await self._bookkeeping(lambda c: c.execute(RENEW, args).rowcount)

    async def recover(
        self,
        *,
        now: float,
        default_max_attempts: int,
        dead_worker_ids: Sequence[str] = (),
    ) -> int:
        ids = list(dead_worker_ids)
        dead_positional = f"OR worker_id IN ({_placeholders(len(ids))})" if ids else ""
        dead_named = f"OR worker_id IN ({', '.join(f':dead{i}' for i in range(len(ids)))})"
        unstarted = RECOVER_UNSTARTED.format(dead=dead_positional)
        running = RECOVER_RUNNING.format(dead=dead_named if ids else "")
        named: dict[str, Any] = {"now": now, "default": default_max_attempts, "error": LEASE_LOST}
        named.update({f"dead{i}": w for i, w in enumerate(ids)})

        def recover(conn: sqlite3.Connection) -> int:
            n = conn.execute(unstarted, (now, *ids)).rowcount
            return n + conn.execute(running, named).rowcount

        n = await self._bookkeeping(recover)
        if n:
            self._work_available()
        return n

    async def held_worker_ids(self) -> list[str]:
        rows = await self._read(lambda c: c.execute(HELD_WORKERS).fetchall())
        return [r[0] for r in rows]

    async def wait_for_work(self, timeout_s: float) -> None:
        # Only processes that consume listen: an API-only process is never poked.
        if self._listener is not None and self._listener.path is None:
            try:
                self._listener.start()
            except OSError as exc:
                log.warning("no cross-process wake-ups (polling every %ss): %s", timeout_s, exc)
                self._listener = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):  # unlike wait_for, no task of its own
                await self._new_work.wait()
        self._new_work.clear()
