"""The task row as every driver selects it: one column order, one way back to a Task."""

from __future__ import annotations

from typing import Any

from taskq import codec
from taskq.task import Status, Task

COLUMNS = (
    "seq, id, action, payload, queue, priority, status, result, error, errors, attempts,"
    " max_attempts, timeout_s, run_at, created_at, started_at, processed_at, cancel_requested,"
    " idempotency_key, fingerprint"
)


def row_to_task(row: tuple[Any, ...]) -> Task:
    """A Task from a row selected as COLUMNS (JSON columns as text or bytes)."""
    return Task(
        seq=row[0],
        id=row[1],
        action=row[2],
        payload=codec.decode(row[3]),
        queue=row[4],
        priority=row[5],
        status=Status(row[6]),
        result=None if row[7] is None else codec.decode(row[7]),
        error=row[8],
        errors=codec.decode_errors(row[9]),
        attempts=row[10],
        max_attempts=row[11],
        timeout_s=row[12],
        run_at=row[13],
        created_at=row[14],
        started_at=row[15],
        processed_at=row[16],
        cancel_requested=bool(row[17]),
        idempotency_key=row[18],
        fingerprint=row[19],
    )
