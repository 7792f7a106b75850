"""The memory driver's answers for GET /metrics (taskq/metrics.py), counted over its rows
as the SQL drivers' statements count them."""

from __future__ import annotations

from collections.abc import Collection

from taskq.drivers.memory.store import Row
from taskq.drivers.rows import LEASE_LOST
from taskq.metrics import BUCKETS_S, Finished, Submitted
from taskq.task import TERMINAL, Status, Task


def finished_between(stored: Collection[Row], *, after: float, until: float) -> list[Finished]:
    groups: dict[tuple[str, str, Status], list[Task]] = {}
    for row in stored:
        t = row.task
        if t.status in TERMINAL and t.processed_at is not None and after < t.processed_at <= until:
            groups.setdefault((t.queue, t.action, t.status), []).append(t)
    return [_finished(key, tasks) for key, tasks in groups.items()]


def _finished(key: tuple[str, str, Status], tasks: list[Task]) -> Finished:
    queue, action, status = key
    timed = [
        (t.started_at - t.run_at, (t.processed_at or 0.0) - t.started_at)
        for t in tasks
        if status is not Status.CANCELLED and t.started_at is not None
    ]
    return Finished(
        queue,
        action,
        status,
        tasks=len(tasks),
        attempts=sum(t.attempts for t in tasks),
        started=sum(t.attempts > 0 for t in tasks),
        recovered=sum(e.error == LEASE_LOST for t in tasks for e in t.errors),
        timed=len(timed),
        wait_sum_s=sum(w for w, _ in timed),
        run_sum_s=sum(r for _, r in timed),
        wait_le=tuple(sum(w <= b for w, _ in timed) for b in BUCKETS_S),
        run_le=tuple(sum(r <= b for _, r in timed) for b in BUCKETS_S),
    )


def submitted_after(stored: Collection[Row], *, after_seq: int, until: float) -> Submitted:
    fresh = sorted((row.task for row in stored if row.task.seq > after_seq), key=lambda t: t.seq)
    counts: dict[tuple[str, str], int] = {}
    last_seq = after_seq
    for t in fresh:
        if t.created_at > until:
            break
        counts[t.queue, t.action] = counts.get((t.queue, t.action), 0) + 1
        last_seq = t.seq
    return Submitted([(q, a, n) for (q, a), n in counts.items()], last_seq)


def seq_before(stored: Collection[Row], at: float) -> int:
    return max((row.task.seq for row in stored if row.task.created_at <= at), default=0)
