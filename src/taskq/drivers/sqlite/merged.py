"""The SQLite writes merged across callers: every enqueue, start or completion waiting for
the same transaction goes in one statement (see writer.py for why that pays)."""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from taskq import codec
from taskq.drivers.rows import COLUMNS, row_to_task
from taskq.drivers.statements import load
from taskq.task import NewTask, Task

SQL = load("taskq.drivers.sqlite")
ROWS_PER_INSERT = 500  # 14 parameters a row: well under SQLite's 32,766 per statement
ROWS_PER_UPDATE = 1000  # 4 parameters a row
GET_BY_KEY = SQL["get_by_key"].format(columns=COLUMNS)
GET_BY_UNIQUE_KEY = SQL["get_by_unique_key"].format(columns=COLUMNS)

# One row of an insert, as ``insert`` names its columns:
# (id, action, payload, queue, priority, max_attempts, timeout_s, run_at, created_at,
#  idempotency_key, fingerprint, trace_context, unique_key, concurrency_key)
InsertRow = tuple[Any, ...]
WIDTH = 14
KEY = 9  # where the idempotency key is in an InsertRow
UNIQUE_KEY = 12
CREATED_AT = 8
RUN_AT = 7


def insert_row(task: NewTask, now: float) -> InsertRow:
    """The InsertRow of ``task``, enqueued at ``now``."""
    return (
        task.id,
        task.action,
        codec.encode(task.data) if task.data_json is None else task.data_json,
        task.queue,
        task.priority,
        task.max_attempts,
        task.timeout_s,
        now if task.run_at is None else task.run_at,
        now,
        task.idempotency_key,
        task.fingerprint,
        task.trace_context,
        task.unique_key,
        task.concurrency_key,
    )


@functools.lru_cache(maxsize=512)
def _with_rows(name: str, n_rows: int, width: int, **fill: str) -> str:
    """Statement ``name`` with its ``{rows}`` as ``n_rows`` rows of ``width`` placeholders."""
    row = "(" + ", ".join("?" * width) + ")"
    return SQL[name].format(rows=", ".join([row] * n_rows), **fill)


def insert(conn: sqlite3.Connection, enqueues: list[list[InsertRow]]) -> list[list[int | Task]]:
    """Insert the rows of every waiting enqueue at once (rows in order, so seq is FIFO).

    Per row: its seq, or, when it was skipped, the task stored in its place: the one holding
    its idempotency key, else the active one holding its unique key.
    No RETURNING: Python's sqlite3 gives up the GIL once per returned row, and retaking it
    from a busy event loop costs more than the insert. When every row went in, their seqs
    are the last rowid and the ones before it (we hold the write lock).
    """
    rows = [row for enqueue in enqueues for row in enqueue]
    seqs: dict[str, int] = {}
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        params = [value for row in chunk for value in row]
        inserted = conn.execute(_with_rows("insert", len(chunk), WIDTH), params).rowcount
        if inserted == len(chunk):
            last = conn.execute(SQL["last_seq"]).fetchone()[0]
            seqs.update((row[0], last - len(chunk) + 1 + i) for i, row in enumerate(chunk))
        else:  # some keys were taken: find which rows went in now
            ids = codec.encode([row[0] for row in chunk])
            created = {row[0]: row[CREATED_AT] for row in chunk}
            found = conn.execute(SQL["seqs_of_ids"], (ids,)).fetchall()
            seqs.update((id_, seq) for id_, seq, at in found if at == created[id_])
    return [
        [seqs[row[0]] if row[0] in seqs else _holder(conn, row) for row in enqueue]
        for enqueue in enqueues
    ]


def _holder(conn: sqlite3.Connection, row: InsertRow) -> Task:
    """The stored task a skipped row yields to (read in the inserting transaction, so it
    is there): its idempotency key's, else its unique key's."""
    found = None if row[KEY] is None else conn.execute(GET_BY_KEY, (row[KEY],)).fetchone()
    if found is None:
        found = conn.execute(GET_BY_UNIQUE_KEY, (row[UNIQUE_KEY],)).fetchone()
    return row_to_task(found)


def _owned_then_update(
    conn: sqlite3.Connection, rows: list[tuple[Any, ...]], columns: str, status: str, update: str
) -> dict[str, int]:
    """Apply statement ``update`` to ``rows`` (each starting with task id and worker id);
    return the attempts of the tasks that were still the worker's, in ``status``, so were
    updated (read in the same transaction, so nothing moves between)."""
    width = columns.count(",") + 1
    owned: dict[str, int] = {}
    for start in range(0, len(rows), ROWS_PER_UPDATE):
        chunk = rows[start : start + ROWS_PER_UPDATE]
        params = [value for row in chunk for value in row]
        owned_sql = _with_rows("owned", len(chunk), width, v_columns=columns)
        found = conn.execute(owned_sql, [*params, status]).fetchone()
        owned.update(codec.decode(found[0]))
        conn.execute(_with_rows(update, len(chunk), width), params)
    return owned


def start(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[int | None]:
    """Start prefetched tasks: per row (id, worker, at, lease), its attempt number, or None
    when the task is no longer the worker's."""
    owned = _owned_then_update(conn, rows, "id, worker, at, lease", "queued", "start_many")
    return [None if row[0] not in owned else owned[row[0]] + 1 for row in rows]


def complete(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[bool]:
    """Record results: per row (id, worker, result, at), whether it was still the worker's."""
    owned = _owned_then_update(conn, rows, "id, worker, result, at", "running", "complete_many")
    return [row[0] in owned for row in rows]
