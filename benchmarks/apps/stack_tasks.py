"""The "what users build today" stack, worker side: a Celery task that writes a SQLite row.

Broker: Redis (the benchmark's DB). No Celery result backend: the row is the result.
SQLite gets the same PRAGMAs as taskq's default (WAL, synchronous=FULL, busy_timeout 10 s).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

from celery import Celery, Task

from benchmarks.config import REDIS_URL, WORK_DIR

DB_PATH = WORK_DIR / "stack" / "stack.db"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results ("
    " id TEXT PRIMARY KEY, action TEXT NOT NULL, output TEXT NOT NULL, created_at REAL NOT NULL)"
)

app = Celery("stack", broker=REDIS_URL)
app.conf.update(
    task_acks_late=True,
    task_ignore_result=True,
    task_default_queue="stack",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_conns: dict[int, sqlite3.Connection] = {}  # pid -> connection (one per pool process)


def connect() -> sqlite3.Connection:
    conn = sqlite3.connect(DB_PATH, isolation_level=None, timeout=10.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _db() -> sqlite3.Connection:
    pid = os.getpid()
    if pid not in _conns:
        _conns[pid] = connect()
    return _conns[pid]


@app.task(name="run_action", bind=True)
def run_action(self: Task, action: str, data: dict[str, Any]) -> None:
    output = {"output": str(data.get("text", "")).upper()}
    _db().execute(
        "INSERT INTO results (id, action, output, created_at) VALUES (?, ?, ?, ?)",
        (self.request.id, action, json.dumps(output), time.time()),
    )
