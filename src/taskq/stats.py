"""What the store can tell about itself at a glance: counts, throughput, wait and run
times over recent windows, per queue and for the whole store. Pure data, no I/O.

Every figure over a window reads only the tasks that finished in it (through the index on
``processed_at``), so its cost follows the recent throughput, not the table's size.
"""

from __future__ import annotations

import msgspec

from taskq.task import Status

# the windows every answer covers, in seconds: the last 1, 5 and 15 minutes
WINDOWS_S = (60, 300, 900)
# at most this many queues in one answer (sorted by name; ``more`` says others exist)
MAX_QUEUES = 1000
# wait and run time percentiles are taken over at most this many of a window's tasks,
# the ones that finished last (``sampled`` says when a window held more)
SAMPLE_SIZE = 10_000


class Percentiles(msgspec.Struct, frozen=True, gc=False):
    """The median and 95th percentile of a duration, in seconds; None with no task."""

    p50: float | None = None
    p95: float | None = None


class Throughput(msgspec.Struct, frozen=True, gc=False):
    """How many tasks ended ``completed`` and ``failed`` in the last ``window_s`` seconds
    (by ``processed_at``)."""

    window_s: int
    completed: int
    failed: int


class WindowStats(msgspec.Struct, frozen=True, gc=False):
    """Throughput over the last ``window_s`` seconds, and of its completed and failed
    tasks the time each waited (``started_at - run_at``, its last attempt's) and ran
    (``processed_at - started_at``); ``sampled`` when the percentiles saw only the
    SAMPLE_SIZE tasks that finished last."""

    window_s: int
    completed: int
    failed: int
    wait_s: Percentiles
    run_s: Percentiles
    sampled: bool


class QueueStats(msgspec.Struct, frozen=True, gc=False):
    """One queue: its tasks by status, how long ago the ``run_at`` of its oldest task
    that is queued, due and held by no worker was (None if none), and its throughput per
    window."""

    name: str
    counts: dict[Status, int]
    oldest_ready_age_s: float | None
    throughput: list[Throughput]


class QueueList(msgspec.Struct, frozen=True, gc=False):
    """The queues that have tasks at ``generated_at``, by name, at most a limit of them;
    ``more`` if others exist past it."""

    generated_at: float
    queues: list[QueueStats]
    more: bool


class StoreStats(msgspec.Struct, frozen=True, gc=False):
    """The whole store at ``generated_at``: tasks by status, and each window's figures."""

    generated_at: float
    counts: dict[Status, int]
    windows: list[WindowStats]
