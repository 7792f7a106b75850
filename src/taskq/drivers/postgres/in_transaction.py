"""Enqueue through the caller's own psycopg connection, in its transaction
(``Queue.enqueue(..., connection=conn)``).

The statement is the driver's own ``enqueue``: its ``pg_notify`` is delivered only when
the transaction commits, so workers everywhere wake exactly then, and never for a task
rolled back. The caller's connection keeps its own row factory and loaders: each statement
here runs on a cursor of its own that reads rows as taskq does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from taskq import codec
from taskq.drivers import rows
from taskq.drivers.postgres.connection import one_line, read_as_taskq
from taskq.drivers.postgres.merged import enqueue_row, enqueue_statement
from taskq.drivers.rows import COLUMNS, row_to_task
from taskq.drivers.statements import load
from taskq.errors import InvalidTask
from taskq.task import NewTask, Task

SQL = load("taskq.drivers.postgres")
GET_BY_KEYS = SQL["get_by_keys"].format(columns=COLUMNS)
GET_BY_UNIQUE_KEYS = SQL["get_by_unique_keys"].format(columns=COLUMNS)

UserConnection = psycopg.Connection[Any] | psycopg.AsyncConnection[Any]
# IDLE: no transaction, so ours is over; UNKNOWN: the connection is lost, and its
# transaction with it
OPEN = frozenset({TransactionStatus.ACTIVE, TransactionStatus.INTRANS, TransactionStatus.INERROR})


def check_connection(connection: object) -> UserConnection:
    """``connection`` if it is a psycopg 3 connection, else TypeError."""
    if isinstance(connection, psycopg.Connection | psycopg.AsyncConnection):
        return connection
    raise TypeError(
        "a PostgreSQL store enqueues through a psycopg (3) Connection or AsyncConnection,"
        f" not {type(connection).__module__}.{type(connection).__qualname__}"
    )


async def insert(conn: UserConnection, tasks: Sequence[NewTask], now: float) -> list[Task]:
    """Insert ``tasks`` on ``conn`` without committing; a taken key's stored task, read on
    ``conn``, in its NewTask's place."""
    batch = [enqueue_row(t, now) for t in tasks]
    try:
        found = await _fetchall(
            conn, enqueue_statement(batch), {"rows": codec.encode(batch), "now": now}
        )
    except (psycopg.DataError, psycopg.IntegrityError) as exc:
        raise InvalidTask(f"PostgreSQL cannot store this task: {one_line(exc)}") from exc
    seq_of: dict[str, int] = {row[0]: row[1] for row in found}
    skipped = [t for t in tasks if t.id not in seq_of]
    holders = iter(await _holders(conn, skipped) if skipped else [])
    return [
        rows.enqueued(t, seq=seq_of[t.id], now=now) if t.id in seq_of else next(holders)
        for t in tasks
    ]


async def _holders(conn: UserConnection, skipped: list[NewTask]) -> list[Task]:
    """The stored task each skipped task yields to, read on ``conn``: in its transaction."""
    keys = [t.idempotency_key for t in skipped if t.idempotency_key]
    uniques = [t.unique_key for t in skipped if t.unique_key]
    by_key = await _fetchall(conn, GET_BY_KEYS, (keys,)) if keys else []
    by_unique = await _fetchall(conn, GET_BY_UNIQUE_KEYS, (uniques,)) if uniques else []
    return rows.holders(skipped, map(row_to_task, by_key), map(row_to_task, by_unique))


async def _fetchall(conn: UserConnection, query: str, args: Any) -> list[tuple[Any, ...]]:
    if isinstance(conn, psycopg.AsyncConnection):
        async with conn.cursor(row_factory=tuple_row) as cur:
            read_as_taskq(cur.adapters)
            await cur.execute(query, args)
            return await cur.fetchall()
    # a sync connection blocks for its round trip: not on the event loop (psycopg's
    # connections may be used from any thread)
    return await asyncio.to_thread(_fetchall_sync, conn, query, args)


def _fetchall_sync(conn: psycopg.Connection[Any], query: str, args: Any) -> list[tuple[Any, ...]]:
    with conn.cursor(row_factory=tuple_row) as cur:
        read_as_taskq(cur.adapters)
        cur.execute(query, args)
        return cur.fetchall()


class Uncommitted:
    """The tasks inserted on the caller's connection, until its transaction ends
    (drivers/base.py)."""

    def __init__(
        self,
        conn: UserConnection,
        tasks: list[Task],
        stored: Callable[[Sequence[str]], Awaitable[set[str]]],
    ) -> None:
        self.tasks = tasks
        self._conn = conn
        self._stored = stored

    def is_open(self) -> bool:
        return self._conn.info.transaction_status in OPEN

    async def committed(self, tasks: Sequence[Task]) -> list[Task]:
        # no wake-up to send: the statement's notification went out with the commit
        found = await self._stored([t.id for t in tasks])
        return [t for t in tasks if t.id in found]
