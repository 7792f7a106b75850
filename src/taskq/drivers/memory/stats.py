"""The figures of GET /queues and /stats, counted over the memory driver's rows."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from taskq.drivers import rows
from taskq.drivers.memory.store import Row
from taskq.stats import QueueList, Throughput, WindowStats
from taskq.task import TERMINAL, Status, Task


def queue_stats(
    stored: Collection[Row], *, now: float, windows: Sequence[int], limit: int
) -> QueueList:
    tasks = [row.task for row in stored]
    names = sorted({t.queue for t in tasks})[: limit + 1]
    shown = set(names)
    counts: dict[tuple[str, Status], int] = {}
    for t in tasks:
        if t.queue in shown:
            counts[t.queue, t.status] = counts.get((t.queue, t.status), 0) + 1
    oldest: dict[str, float] = {}
    for row in stored:
        t = row.task
        if t.status is Status.QUEUED and row.worker_id is None and t.run_at <= now:
            oldest[t.queue] = min(t.run_at, oldest.get(t.queue, t.run_at))
    throughput = {
        w: [
            (name, *_ended(stored, now - w, now, queue=name))
            for name in {t.queue for t in _finished(stored, now - w, now)}
        ]
        for w in windows
    }
    return rows.queue_list(
        [(q, s, n) for (q, s), n in counts.items()],
        oldest.items(),
        throughput,
        now=now,
        limit=limit,
    )


def window_stats(
    stored: Collection[Row], *, now: float, windows: Sequence[int], sample_size: int
) -> list[WindowStats]:
    throughput = [Throughput(w, *_ended(stored, now - w, now)) for w in windows]
    ran = [
        t
        for t in _finished(stored, now - max(windows, default=0), now)
        if t.status is not Status.CANCELLED and t.started_at is not None
    ]
    ran.sort(key=lambda t: t.processed_at or 0.0, reverse=True)
    sample = [
        (
            t.processed_at or 0.0,
            (t.started_at or 0.0) - t.run_at,
            (t.processed_at or 0.0) - (t.started_at or 0.0),
        )
        for t in ran[:sample_size]
    ]
    return rows.window_stats(throughput, sample, now=now, sample_size=sample_size)


def _finished(stored: Collection[Row], since: float, now: float) -> list[Task]:
    """The tasks that finished in (since, now]."""
    return [
        row.task
        for row in stored
        if row.task.status in TERMINAL
        and row.task.processed_at is not None
        and since < row.task.processed_at <= now
    ]


def _ended(
    stored: Collection[Row], since: float, now: float, queue: str | None = None
) -> tuple[int, int]:
    """How many tasks (of ``queue``, or any) completed and failed in (since, now]."""
    ended = [t.status for t in _finished(stored, since, now) if queue in (None, t.queue)]
    return ended.count(Status.COMPLETED), ended.count(Status.FAILED)
