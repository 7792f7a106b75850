"""SQLite's group commit: every write waiting for the next transaction goes in it.

One connection and one thread write; the shared coalescer (drivers/coalescer.py) collects
the writes asked for while a transaction commits into the next round. A round is one
transaction on the writer thread: each plain write runs in a savepoint of its own (one
that raises fails only its caller), and each *merged* kind (enqueue, start, complete)
passes every waiting item to one call, e.g. one multi-row INSERT. Each ``execute`` on the
writer thread gives up and retakes the GIL, which a busy event loop holds, so a few
statements per transaction beat a few per task.

A lone write with nothing else in flight runs on the event loop's own thread, if the lock
is free: handing it to the writer thread and back costs two thread wake-ups, more than the
write itself on a quiet system.

Every commit runs at the connection's ``synchronous`` level, except with FULL and
``lazy_sync_s``: then a transaction made only of writes passed ``durable=False`` (a
worker's bookkeeping) runs at NORMAL, and the WAL file is fsynced at most ``lazy_sync_s``
later.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar

from taskq.drivers.coalescer import Coalescer, Round, Waiting
from taskq.drivers.sqlite.connection import (
    SQL,
    LockBusy,
    Synchronous,
    begin_immediate,
    free_bytes,
    fsync,
    is_disk_error,
)
from taskq.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
MergedOp = Callable[[sqlite3.Connection, list[Any]], list[Any]]


class DiskRefusal(NamedTuple):
    """A write transaction the disk refused: SQLite's message, and the bytes then free."""

    error: str
    free_bytes: int


def check_writable(path: str, free: int, min_free_bytes: int, refusal: DiskRefusal | None) -> None:
    """StoreUnavailable unless the disk can take writes: ``free`` bytes at least
    ``min_free_bytes``, and more freed since the last write the disk refused (``refusal``)."""
    if free < min_free_bytes:
        raise StoreUnavailable(
            f"disk full: {free} bytes free on the file system of {path},"
            f" under the {min_free_bytes} it needs"
        )
    # How much the refused write needed is unknown: the disk counts as back once more than
    # the margin we keep has been freed since.
    if refusal is not None and free <= refusal.free_bytes + min_free_bytes:
        raise StoreUnavailable(
            f"the disk refused the last write to {path} ({refusal.error})"
            " and not enough space was freed since"
        )


class _Plain:
    """The kind of the writes that run one by one, each in its own savepoint."""


PLAIN = _Plain()


class _Failed:
    """The outcome of a write that raised."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _store_error(error: Exception) -> Exception:
    """What a caller sees: the store's failures as StoreUnavailable, anything else as is."""
    if isinstance(error, sqlite3.Error):
        return StoreUnavailable(f"database write failed: {error}")
    return error


class _Unit(NamedTuple):
    """One savepoint's worth of a round: what runs, and who waits for what it gives."""

    run: Op
    waiting: Waiting
    merged: bool  # one outcome per waiting item (a merged kind), else one for one write


def _units(batch: Round) -> list[_Unit]:
    units: list[_Unit] = []
    for kind, waiting in batch.kinds.items():
        if kind is PLAIN:
            for op, future in zip(waiting.items, waiting.futures, strict=True):
                units.append(_Unit(op, Waiting([op], [future]), merged=False))
        else:
            merged: MergedOp = kind  # type: ignore[assignment]
            run = functools.partial(_call_merged, merged, waiting.items)
            units.append(_Unit(run, waiting, merged=True))
    return units


def _call_merged(op: MergedOp, items: list[Any], conn: sqlite3.Connection) -> list[Any]:
    return op(conn, items)


def _settle(unit: _Unit, outcome: Any) -> None:
    if isinstance(outcome, _Failed):
        unit.waiting.fail(_store_error(outcome.error))
    else:
        unit.waiting.settle(outcome if unit.merged else [outcome])


def _transaction(
    conn: sqlite3.Connection, ops: list[Op], synchronous: Synchronous | None, wait: bool = True
) -> list[Any]:
    """Run ``ops`` in one transaction; one op's error fails only that op (a _Failed).

    ``synchronous``, when given, is set first (it applies to the connection's commits);
    without ``wait``, raise LockBusy rather than wait for another process's lock.
    """
    if synchronous is not None:
        conn.execute(SQL["set_synchronous"].format(level=synchronous))
    outcomes: list[Any] = []
    isolate = len(ops) > 1  # a lone op needs no savepoint: its transaction is its own
    begin_immediate(conn, wait=wait)
    try:
        for op in ops:
            if isolate:
                conn.execute(SQL["savepoint"])
            try:
                outcomes.append(op(conn))
            except Exception as exc:
                if is_disk_error(exc):  # not this op's fault; SQLite may have rolled back all
                    raise
                if isolate:
                    conn.execute(SQL["rollback_to_savepoint"])
                outcomes.append(_Failed(exc))
            if isolate:
                conn.execute(SQL["release_savepoint"])
        conn.execute(SQL["commit"])
    except BaseException:
        if conn.in_transaction:
            conn.execute(SQL["rollback"])
        raise
    return outcomes


class Writer:
    """Group commit on one SQLite connection (see the module docstring).

    ``disk_refusal`` is set while the last transaction failed for want of disk (so reads
    may work while writes do not); the next one to commit clears it.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        synchronous: Synchronous,
        lazy_sync_s: float = 0.0,
        wal_path: str | None = None,
    ) -> None:
        self._conn = conn
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="taskq-sqlite-writer")
        self._rounds = Coalescer(self._commit)
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
        self._pending_durable |= durable
        outcome: T = await self._rounds.submit(PLAIN, op)
        return outcome

    async def write_merged(self, op: MergedOp, item: Any, *, durable: bool = True) -> Any:
        """Pass ``item``, with the others waiting, to one ``op(conn, items)`` call in the next
        transaction; ``op`` returns one outcome per item. Returns this item's outcome."""
        self._pending_durable |= durable
        return await self._rounds.submit(op, item)

    def _next_mode(self) -> Synchronous:
        """The synchronous level this round needs: NORMAL when every write in it may be
        synced later."""
        lazy = self._lazy_sync_s > 0 and not self._pending_durable
        self._pending_durable = False
        return "NORMAL" if lazy else self._level

    async def _commit(self, batch: Round) -> None:
        loop = asyncio.get_running_loop()
        mode = self._next_mode()  # taken with the round: the next writes mark the next one
        change = mode if mode != self._synchronous else None
        units = _units(batch)
        ops = [unit.run for unit in units]
        try:
            outcomes = self._here(ops, change) if batch.first and batch.size == 1 else None
            if outcomes is None:
                outcomes = await loop.run_in_executor(
                    self._thread, _transaction, self._conn, ops, change
                )
            self._synchronous = mode
            self.disk_refusal = None
        except Exception as exc:  # the transaction itself failed: so did every op
            log.warning("write transaction failed: %s", exc)
            outcomes = [_Failed(exc)] * len(units)
            self._synchronous = None  # unknown: set it again next time
            if is_disk_error(exc):
                self.disk_refusal = self._refusal(exc)
        if mode != self._level:  # this commit deferred its fsync
            self._sync_soon(loop)
        for unit, outcome in zip(units, outcomes, strict=True):
            _settle(unit, outcome)

    def _refusal(self, error: Exception) -> DiskRefusal:
        free = 0
        if self._wal_path is not None:
            try:
                free = free_bytes(self._wal_path)
            except OSError as exc:
                log.warning("cannot read the free disk space: %s", exc)
        return DiskRefusal(str(error), free)

    def _here(self, ops: list[Op], change: Synchronous | None) -> list[Any] | None:
        """The transaction on this thread, or None if another process holds the lock."""
        try:
            return _transaction(self._conn, ops, change, wait=False)
        except LockBusy:
            return None

    def _sync_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sync_timer is None:
            self._sync_timer = loop.call_later(self._lazy_sync_s, self._start_sync, loop)

    def _start_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sync_timer = None
        assert self._wal_path is not None
        # off the loop, since fsync blocks; it never touches the connection, so it may run
        # beside a transaction (one running on the loop's thread, see _here)
        self._syncing = loop.run_in_executor(self._thread, fsync, self._wal_path)
        self._syncing.add_done_callback(self._synced)

    def _synced(self, fut: asyncio.Future[None]) -> None:
        if not fut.cancelled() and (exc := fut.exception()) is not None:
            log.error("fsync of the SQLite WAL failed: %s", exc)

    async def close(self) -> None:
        await self._rounds.wait_idle()
        if self._sync_timer is not None:  # what is committed but not yet on disk: sync now
            self._sync_timer.cancel()
            self._start_sync(asyncio.get_running_loop())
        if self._syncing is not None:
            with contextlib.suppress(OSError):
                await self._syncing
        self._thread.shutdown(wait=True)
