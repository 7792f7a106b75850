"""The SQLite driver's verbs on the workers table (taskq/roster.py), each as one function
on a connection (the driver runs them on its writer or reader)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from taskq.drivers import rows
from taskq.drivers.rows import WORKER_COLUMNS
from taskq.drivers.statements import load
from taskq.roster import WorkerInfo

SQL = load("taskq.drivers.sqlite")
LIVE_WORKERS = SQL["live_workers"].format(worker_columns=WORKER_COLUMNS)


def announce(conn: sqlite3.Connection, worker: WorkerInfo) -> None:
    conn.execute(SQL["announce"], rows.worker_args(worker))


def beat(conn: sqlite3.Connection, worker_id: str, now: float) -> bool:
    """One transaction: forget the workers no longer live, then move this one's
    ``last_seen``; whether its row is stored."""
    args = {"id": worker_id, "now": now}
    conn.execute(SQL["forget_stale_workers"], args)
    return conn.execute(SQL["beat"], args).rowcount == 1


def retire(conn: sqlite3.Connection, worker_id: str) -> None:
    conn.execute(SQL["retire"], (worker_id,))


def live_workers(conn: sqlite3.Connection, now: float) -> list[WorkerInfo]:
    """The live workers, and what each runs."""
    found = conn.execute(LIVE_WORKERS, {"now": now}).fetchall()
    running = conn.execute(SQL["running_tasks"]).fetchall() if found else []
    return rows.live_workers(found, running)


def last_ticks(conn: sqlite3.Connection, actions: Sequence[str]) -> dict[str, float]:
    """One probe of tasks_cron_ticks per action."""
    newest = []
    for action in dict.fromkeys(actions):
        row = conn.execute(SQL["last_tick"], rows.tick_args(action)).fetchone()
        newest.append((action, None if row is None else row[0]))
    return rows.last_ticks(newest)
