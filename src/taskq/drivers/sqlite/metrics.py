"""The SQLite driver's reads for GET /metrics (taskq/metrics.py), each a function of the
reader connection."""

from __future__ import annotations

import sqlite3

from taskq.drivers.rows import LEASE_LOST
from taskq.drivers.statements import load
from taskq.metrics import (
    BUCKETS_S,
    Finished,
    Submitted,
    bucket_sums,
    finished_from_rows,
    submitted_from_rows,
)

SQL = load("taskq.drivers.sqlite")
FINISHED = SQL["metrics_finished"].format(
    wait_le=bucket_sums(BUCKETS_S, "wait_s"), run_le=bucket_sums(BUCKETS_S, "run_s")
)


def finished_between(conn: sqlite3.Connection, *, after: float, until: float) -> list[Finished]:
    args = {"after": after, "until": until, "lease_lost": LEASE_LOST}
    return finished_from_rows(conn.execute(FINISHED, args).fetchall())


def submitted_after(conn: sqlite3.Connection, *, after_seq: int, until: float) -> Submitted:
    args = {"after": after_seq, "until": until}
    return submitted_from_rows(conn.execute(SQL["metrics_submitted"], args).fetchall(), after_seq)


def seq_before(conn: sqlite3.Connection, at: float) -> int:
    row = conn.execute(SQL["metrics_seq_before"], {"at": at}).fetchone()
    return 0 if row is None else int(row[0])
