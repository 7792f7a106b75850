"""Reading taskq's table directly (SQLite file or PostgreSQL), to check what the API reports."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import Any

from taskq.drivers import is_postgres_url, sqlite_path

COLUMNS = ("id", "status", "attempts", "worker_id", "result", "error")


def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of one parameterless SELECT; ``{tasks}`` in it names the task table."""
    if is_postgres_url(database_url):
        import psycopg

        with psycopg.connect(database_url) as pg:
            return list(pg.execute(sql.format(tasks="taskq_tasks")).fetchall())
    lite = sqlite3.connect(sqlite_path(database_url), timeout=10)
    try:
        return lite.execute(sql.format(tasks="tasks")).fetchall()
    finally:
        lite.close()


def tasks_by_id(database_url: str) -> dict[str, dict[str, Any]]:
    """Every stored task, keyed by id; fails if any id has more than one row."""
    found = rows(
        database_url,
        "SELECT CAST(id AS TEXT), status, attempts, worker_id, result, error FROM {tasks}",
    )
    duplicates = {i: n for i, n in Counter(r[0] for r in found).items() if n > 1}
    assert not duplicates, f"task ids stored more than once: {duplicates}"
    tasks = {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in found}
    for task in tasks.values():
        if isinstance(task["result"], str | bytes):  # SQLite keeps JSON as text
            task["result"] = json.loads(task["result"])
    return tasks
