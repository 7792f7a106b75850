"""SQLite connections as taskq uses them: WAL, taskq's PRAGMAs, the write lock taken
without SQLite's sleepy busy handler, and the file system's state (fsync, free space)."""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Literal

from taskq.drivers.statements import load

Synchronous = Literal["FULL", "NORMAL"]
SQL = load("taskq.drivers.sqlite")
# how long a write waits for another process's write lock before it fails
LOCK_TIMEOUT_S = 10.0


def connect(
    path: str, *, synchronous: Synchronous = "FULL", busy_timeout_ms: int = 10_000
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with taskq's PRAGMAs."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    use_wal(conn)
    conn.execute(SQL["set_synchronous"].format(level=synchronous))
    conn.execute(SQL["set_busy_timeout"].format(ms=int(busy_timeout_ms)))
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
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(pause_s * 2, max_pause_s)


def is_busy(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so); ``taskq migrate`` already did.

    Switching needs the file to itself and fails at once, whatever the busy timeout, while
    another process writes; so only switch when needed, and retry while busy.
    """
    if conn.execute(SQL["journal_mode"]).fetchone()[0] != "wal":
        _retry_while_busy(conn, SQL["use_wal"], pause_s=0.01, max_pause_s=0.01)


class LockBusy(Exception):
    """Another process holds the write lock (and we were not to wait)."""


def begin_immediate(conn: sqlite3.Connection, *, wait: bool = True) -> None:
    """Take the write lock, waiting for another process to release it (unless not ``wait``:
    then raise LockBusy).

    SQLite's own busy handler sleeps 1 ms, then 2, 5, 10 ... between tries, while another
    process's write transaction holds the lock for a fraction of a millisecond: two
    processes writing at once (an API and a worker) would spend most of their time asleep.
    The writer connection has no busy timeout; this retries after 0.1 ms, doubling to 2 ms.
    """
    if wait:
        _retry_while_busy(conn, SQL["begin"], pause_s=0.0001, max_pause_s=0.002)
        return
    try:
        conn.execute(SQL["begin"])
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise LockBusy from exc
        raise


def fsync(path: str) -> None:
    """Flush a file's written pages to disk, whichever connection (or process) wrote them."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # no WAL: the last connection checkpointed it (and synced)
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def free_bytes(path: str) -> int:
    """Bytes still free for writes on the file system holding the file ``path``."""
    fs = os.statvfs(os.path.dirname(os.path.abspath(path)))
    # root may write into the blocks the file system reserves; others may not
    blocks = fs.f_bfree if os.geteuid() == 0 else fs.f_bavail
    return blocks * fs.f_frsize


def is_disk_error(error: BaseException) -> bool:
    """Whether SQLite failed for want of disk: full (SQLITE_FULL), or an I/O error."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
