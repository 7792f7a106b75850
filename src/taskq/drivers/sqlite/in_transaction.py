"""Enqueue through the caller's own sqlite3 connection, in its transaction
(``Queue.enqueue(..., connection=conn)``).

The insert is the driver's own (``merged.insert``), run on the caller's connection, on the
caller's thread (a sqlite3 connection refuses other threads unless told otherwise).
SQLite tells no one of a commit and Python's sqlite3 has no commit hook: Queue watches
``is_open`` and, once the transaction is over, ``committed`` finds which tasks it kept and
wakes the workers for them.

Until it commits, the caller's connection holds the file's write lock: taskq's own writes
(other enqueues, workers' claims and results, in every process) wait for it, and fail
after ``connection.LOCK_TIMEOUT_S``. Keep such transactions short.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence

from taskq.drivers import rows
from taskq.drivers.sqlite import merged
from taskq.drivers.statements import load
from taskq.task import NewTask, Task

SQL = load("taskq.drivers.sqlite")


def check_connection(connection: object, path: str) -> sqlite3.Connection:
    """``connection`` if it is a sqlite3 connection to the file ``path``; TypeError for
    another kind, ValueError for another database."""
    if not isinstance(connection, sqlite3.Connection):
        raise TypeError(
            "a SQLite store enqueues through a sqlite3.Connection,"
            f" not {type(connection).__module__}.{type(connection).__qualname__}"
        )
    with _plain_rows(connection):
        (file,) = connection.execute(SQL["database_file"]).fetchone()
    if not _same_file(file, path):
        raise ValueError(
            f"the connection is to {file or 'an in-memory database'}, not to taskq's {path}:"
            " tasks can only be enqueued through a connection to the same file"
        )
    return connection


def _same_file(file: str, path: str) -> bool:
    if not file or path == ":memory:":  # an in-memory database is its connection's alone
        return False
    try:
        return os.path.samefile(file, path)
    except OSError:
        return False


@contextlib.contextmanager
def _plain_rows(conn: sqlite3.Connection) -> Iterator[None]:
    """Rows as tuples of str while taskq reads on the caller's connection, whatever row
    and text factories the caller set on it (restored after)."""
    row_factory, text_factory = conn.row_factory, conn.text_factory
    conn.row_factory, conn.text_factory = None, str
    try:
        yield
    finally:
        conn.row_factory, conn.text_factory = row_factory, text_factory


def insert(conn: sqlite3.Connection, tasks: Sequence[NewTask], now: float) -> list[Task]:
    """Insert ``tasks`` on ``conn`` without committing (with no transaction open, SQLite
    commits each statement); a taken key's stored task, read on ``conn``, in its NewTask's
    place."""
    insert_rows = [merged.insert_row(t, now) for t in tasks]
    with _plain_rows(conn):
        (stored,) = merged.insert(conn, [insert_rows])
    return [
        found if isinstance(found, Task) else rows.enqueued(t, seq=found, now=now)
        for found, t in zip(stored, tasks, strict=True)
    ]


class Uncommitted:
    """The tasks inserted on the caller's connection, until its transaction ends
    (drivers/base.py)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        tasks: list[Task],
        stored: Callable[[Sequence[str]], Awaitable[set[str]]],
        wake: Callable[[], None],
    ) -> None:
        self.tasks = tasks
        self._conn = conn
        self._stored = stored
        self._wake = wake

    def is_open(self) -> bool:
        try:
            return self._conn.in_transaction
        except sqlite3.ProgrammingError:  # closed, which rolled back what was open
            return False

    async def committed(self, tasks: Sequence[Task]) -> list[Task]:
        found = await self._stored([t.id for t in tasks])
        kept = [t for t in tasks if t.id in found]
        if any(t.run_at <= time.time() for t in kept):  # a task due later wakes no one
            self._wake()
        return kept
