"""The PostgreSQL driver's reads for GET /metrics (taskq/metrics.py), each a function of
its connection pool."""

from __future__ import annotations

from taskq.drivers.postgres.connection import Connections
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

SQL = load("taskq.drivers.postgres")
FINISHED = SQL["metrics_finished"].format(
    wait_le=bucket_sums(BUCKETS_S, "wait_s"), run_le=bucket_sums(BUCKETS_S, "run_s")
)


async def finished_between(db: Connections, *, after: float, until: float) -> list[Finished]:
    args = {"after": after, "until": until, "lease_lost": LEASE_LOST}
    return finished_from_rows(await db.fetchall(FINISHED, args))


async def submitted_after(db: Connections, *, after_seq: int, until: float) -> Submitted:
    args = {"after": after_seq, "until": until}
    return submitted_from_rows(await db.fetchall(SQL["metrics_submitted"], args), after_seq)


async def seq_before(db: Connections, at: float) -> int:
    row = await db.fetchone(SQL["metrics_seq_before"], {"at": at})
    return 0 if row is None else int(row[0])
