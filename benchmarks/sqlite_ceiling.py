"""Ceiling for taskq's enqueue paths: raw SQLite inserts, no queue code at all.

Rows go into taskq's own `tasks` table (created by `taskq.migrate`, so the same indexes) on a
connection opened by taskq's own `connect()` (so the same PRAGMAs: WAL, synchronous, busy
timeout). Measured one row per transaction and BULK_BATCH rows per transaction, with
synchronous=FULL (taskq's default) and NORMAL. Each measurement stops after N rows or
`sizes.sqlite_seconds`, whichever comes first.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from benchmarks.config import BULK_BATCH, WORK_DIR, Sizes, payload
from benchmarks.progress import Progress
from benchmarks.stats import summarize

Sync = Literal["FULL", "NORMAL"]
INSERT = (
    "INSERT INTO tasks (id, action, payload, queue, priority, run_at, created_at)"
    " VALUES (?, 'uppercase', ?, 'default', 0, ?, ?)"
)
DB = WORK_DIR / "sqlite-ceiling" / "ceiling.db"


def _connect(sync: Sync) -> tuple[sqlite3.Connection, str]:
    DB.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    try:
        import taskq
        from taskq.drivers.sqlite import connect

        taskq.migrate(f"sqlite:///{DB}")
        return connect(str(DB), synchronous=sync), "taskq schema + taskq.drivers.sqlite.connect()"
    except ImportError:
        conn = sqlite3.connect(DB, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {sync}")
        conn.execute(
            "CREATE TABLE tasks (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE,"
            " action TEXT, payload TEXT, queue TEXT, priority INTEGER, run_at REAL,"
            " created_at REAL)"
        )
        return conn, "fallback table (taskq not importable)"


def _row(i: int) -> tuple[str, str, float, float]:
    now = time.time()
    return (str(uuid.uuid4()), json.dumps(payload("task", i)), now, now)


def measure(sync: Sync, batch: int, n: int, cap_s: float) -> dict[str, Any]:
    conn, how = _connect(sync)
    pragmas = {
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],  # 2=FULL, 1=NORMAL
    }
    done = 0
    start = time.perf_counter()
    deadline = start + cap_s
    while done < n and time.perf_counter() < deadline:
        rows = [_row(i) for i in range(done, min(done + batch, n))]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, rows)
        conn.execute("COMMIT")
        done += len(rows)
    seconds = time.perf_counter() - start
    conn.close()
    return {
        "rows": done,
        "seconds": seconds,
        "rows_per_s": done / seconds,
        "how": how,
        "pragmas": pragmas,
    }


def run(sizes: Sizes, progress: Progress) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sync in ("FULL", "NORMAL"):
        for label, batch in (("one_per_txn", 1), (f"batch_{BULK_BATCH}", BULK_BATCH)):
            key = f"{label}_{sync.lower()}"
            progress.show(f"sqlite ceiling · {key}")
            runs = [measure(sync, batch, sizes.n, sizes.sqlite_seconds) for _ in range(sizes.reps)]
            out[key] = {
                "status": "ok",
                "synchronous": sync,
                "rows_per_txn": batch,
                "runs": runs,
                "rows_per_s": summarize([r["rows_per_s"] for r in runs]),
            }
            progress.advance()
    return out
