"""The SQLite driver's admin verbs, each as one function on a connection: delete, the bulk
actions and the figures of GET /queues and /stats (the driver runs them on its writer or
reader)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from taskq import codec
from taskq.drivers import rows
from taskq.drivers.rows import COLUMNS
from taskq.drivers.statements import load
from taskq.filters import BulkResult, TaskFilter
from taskq.stats import QueueList, Throughput, WindowStats

SQL = load("taskq.drivers.sqlite")
GET = SQL["get"].format(columns=COLUMNS)
DELETE = SQL["delete"].format(columns=COLUMNS)


def delete(conn: sqlite3.Connection, task_id: str) -> tuple[bool, tuple[Any, ...] | None]:
    """Delete a finished task: whether it was, and the row (the deleted one, or the task
    left as it is)."""
    row = conn.execute(DELETE, (task_id,)).fetchone()
    if row is not None:
        return True, row
    found: tuple[Any, ...] | None = conn.execute(GET, (task_id,)).fetchone()
    return False, found


def bulk(
    statement: str, applies: str, task_filter: TaskFilter, limit: int, now: float | None
) -> Callable[[sqlite3.Connection], BulkResult]:
    """One bulk write and, in its transaction, whether it left tasks it applies to."""
    where, args = rows.filter_clause(SQL, task_filter, value_list=codec.encode)
    where = f"{where} AND {SQL[applies]}"
    write = SQL[statement].format(where=where)
    left = SQL["any_matching"].format(where=where)
    args = {**args, "limit": limit, "now": now}

    def run(conn: sqlite3.Connection) -> BulkResult:
        changed = conn.execute(write, args).rowcount
        return BulkResult(changed, bool(conn.execute(left, args).fetchone()[0]))

    return run


def queue_stats(
    conn: sqlite3.Connection, *, now: float, windows: Sequence[int], limit: int
) -> QueueList:
    return rows.queue_list(
        conn.execute(SQL["queue_counts"]).fetchall(),
        conn.execute(SQL["queue_oldest_ready"], {"now": now}).fetchall(),
        {
            w: conn.execute(SQL["queue_throughput"], {"since": now - w, "now": now}).fetchall()
            for w in windows
        },
        now=now,
        limit=limit,
    )


def window_stats(
    conn: sqlite3.Connection, *, now: float, windows: Sequence[int], sample_size: int
) -> list[WindowStats]:
    throughput = [
        Throughput(w, *conn.execute(SQL["throughput"], {"since": now - w, "now": now}).fetchone())
        for w in windows
    ]
    # one sample, of the longest window: the shorter ones take its newest rows
    args = {"since": now - max(windows, default=0), "now": now, "sample": sample_size}
    sample = conn.execute(SQL["durations"], args).fetchall()
    return rows.window_stats(throughput, sample, now=now, sample_size=sample_size)
