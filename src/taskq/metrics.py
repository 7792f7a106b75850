"""What ``GET /metrics`` counts, derived from the store rather than from this process.

Every counter is read from the rows themselves, so it includes the work of every worker
(any process, any host) and does not depend on which API process is asked. Each scrape
tails what happened since the previous one, in one aggregated read per kind:

- tasks that *finished* (completed, failed, cancelled) with ``processed_at`` in
  (previous cursor, now - ``lag_s``], through the partial index on ``processed_at`` that
  retention uses: how many, their attempts, their lease recoveries, and their wait and
  run times as histogram bucket counts computed in SQL;
- tasks *submitted*: the rows after the previous ``seq`` cursor (the primary key), up to
  the first one created after now - ``lag_s``.

The cost of a scrape therefore follows the throughput since the last one, not the size of
the table. ``lag_s`` leaves time for writes in flight (a timestamp is taken before its
commit) and for workers whose clocks run behind this process's: a row whose commit lands
more than ``lag_s`` after its timestamp is not counted.

The counters start at zero when the API process starts (Prometheus' ``rate()`` handles the
reset); every process derives them from the same rows, so their rates agree. Pure data and
bookkeeping here; the drivers run the reads (``Driver.finished_between``,
``Driver.submitted_after``, ``Driver.seq_before``) and ``api/metrics.py`` serves them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from taskq.task import Status

# histogram bounds of the wait and run times, in seconds (cumulative, like Prometheus')
BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0,
)  # fmt: skip
# how far behind now each scrape reads: writes in flight and clocks that differ
LAG_S = 5.0
# at most this many (queue, action) pairs get series of their own (see Labels)
MAX_PAIRS = 50
OTHER = "other"
# the outcome of an attempt (taskq_task_attempts_total): the last attempt of a finished
# task ends as the task did; every earlier one failed (it was retried)
LAST_OUTCOME = {
    Status.COMPLETED: "succeeded",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}


class Finished(msgspec.Struct, frozen=True, gc=False):
    """The tasks of one (queue, action, status) that finished in a window.

    ``attempts``: their attempts in all; ``started``: how many ran at least once (their
    last attempt ended as the task did); ``recovered``: attempts ended by lease rescue.
    ``timed``: the completed and failed ones that started, whose wait (``started_at -
    run_at``) and run (``processed_at - started_at``) times are summed in ``wait_sum_s``,
    ``run_sum_s`` and counted per bound of BUCKETS_S (cumulative) in ``wait_le``,
    ``run_le``.
    """

    queue: str
    action: str
    status: Status
    tasks: int
    attempts: int
    started: int
    recovered: int
    timed: int
    wait_sum_s: float
    run_sum_s: float
    wait_le: tuple[int, ...]
    run_le: tuple[int, ...]


class Submitted(msgspec.Struct, frozen=True, gc=False):
    """Tasks stored after a ``seq`` cursor: how many per (queue, action), and the ``seq``
    the next read continues after."""

    counts: list[tuple[str, str, int]]
    last_seq: int


def finished_from_rows(found: Iterable[Sequence[Any]]) -> list[Finished]:
    """Finished records from the rows of a driver's ``metrics_finished`` statement:
    queue, action, status, tasks, attempts, started, recovered, timed, wait_sum_s,
    run_sum_s, then one count per bound for the wait, then one per bound for the run."""
    n = len(BUCKETS_S)
    return [
        Finished(
            r[0],
            r[1],
            Status(r[2]),
            int(r[3]),
            int(r[4] or 0),
            int(r[5] or 0),
            int(r[6] or 0),
            int(r[7] or 0),
            float(r[8] or 0.0),
            float(r[9] or 0.0),
            tuple(int(c or 0) for c in r[10 : 10 + n]),
            tuple(int(c or 0) for c in r[10 + n : 10 + 2 * n]),
        )
        for r in found
    ]


def submitted_from_rows(found: Iterable[Sequence[Any]], after_seq: int) -> Submitted:
    """A Submitted from the rows of a driver's ``metrics_submitted`` statement (queue,
    action, count, the greatest seq)."""
    rows = list(found)
    return Submitted(
        [(r[0], r[1], int(r[2])) for r in rows],
        max((int(r[3]) for r in rows), default=after_seq),
    )


def bucket_sums(bounds: Sequence[float], column: str) -> str:
    """One ``count`` per bound of the observations of ``column`` at most that bound, for
    a statement's select list (bounds are this module's constants, not input)."""
    return ", ".join(f"count(CASE WHEN {column} <= {float(b)!r} THEN 1 END)" for b in bounds)


class Store(Protocol):
    """What the metrics read (a Driver has these verbs)."""

    async def finished_between(self, *, after: float, until: float) -> list[Finished]: ...

    async def submitted_after(self, *, after_seq: int, until: float) -> Submitted: ...

    async def seq_before(self, at: float) -> int: ...


@dataclass
class Labels:
    """Bounded labels for an unbounded set of (queue, action) pairs.

    The first ``max_pairs`` pairs seen (the busiest first within one scrape) keep their
    own labels for the life of the process; once that many are taken, any other pair is
    counted as ``(queue, "other")`` when its queue already has a pair of its own, else
    as ``("other", "other")``. A pair's labels never change once folding started (the
    set is full then), so every counter stays monotonic; the series are at most
    ``2 * max_pairs + 1``.
    """

    max_pairs: int = MAX_PAIRS
    pairs: set[tuple[str, str]] = field(default_factory=set)
    queues: set[str] = field(default_factory=set)

    def admit(self, busiest_first: Iterable[tuple[str, str]]) -> None:
        """Give pairs labels of their own while there is room."""
        for pair in busiest_first:
            if len(self.pairs) >= self.max_pairs:
                return
            if pair not in self.pairs:
                self.pairs.add(pair)
                self.queues.add(pair[0])

    def of(self, queue: str, action: str) -> tuple[str, str]:
        if (queue, action) in self.pairs:
            return queue, action
        return (queue if queue in self.queues else OTHER), OTHER


@dataclass
class Histogram:
    """Cumulative bucket counts (per BUCKETS_S bound), count and sum of one series."""

    le: list[int] = field(default_factory=lambda: [0] * len(BUCKETS_S))
    count: int = 0
    sum_s: float = 0.0

    def add(self, le: Sequence[int], count: int, sum_s: float) -> None:
        for i, n in enumerate(le):
            self.le[i] += n
        self.count += count
        self.sum_s += sum_s


@dataclass
class Totals:
    """Every counter and histogram, by their labels, since this process started."""

    submitted: dict[tuple[str, str], int] = field(default_factory=dict)
    finished: dict[tuple[str, str, str], int] = field(default_factory=dict)
    attempts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    recovered: dict[tuple[str, str], int] = field(default_factory=dict)
    wait: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    run: dict[tuple[str, str], Histogram] = field(default_factory=dict)


def _add(counter: dict[Any, int], key: Any, n: int) -> None:
    if n:
        counter[key] = counter.get(key, 0) + n


class StoreMetrics:
    """The counters of one API process, moved on from the store at each scrape.

    ``started_at`` is where they start: the first scrape counts what finished and was
    submitted after it. Scrapes are serialised, so each row is counted once.
    """

    def __init__(
        self,
        *,
        lag_s: float = LAG_S,
        max_pairs: int = MAX_PAIRS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lag_s = lag_s
        self.clock = clock
        self.started_at = clock()
        self.labels = Labels(max_pairs)
        self.totals = Totals()
        self.finished_until = self.started_at
        self.submitted_seq: int | None = None  # found at the first scrape
        self._lock = asyncio.Lock()

    async def refresh(self, store: Store) -> Totals:
        """Count what the store holds since the previous scrape; the totals."""
        async with self._lock:
            until = self.clock() - self.lag_s
            if self.submitted_seq is None:
                self.submitted_seq = await store.seq_before(self.started_at)
            submitted = await store.submitted_after(after_seq=self.submitted_seq, until=until)
            finished: list[Finished] = []
            if until > self.finished_until:
                finished = await store.finished_between(after=self.finished_until, until=until)
            # both read; only now move on (a failed read leaves the cursors where they were)
            self.submitted_seq = submitted.last_seq
            self.finished_until = max(until, self.finished_until)
            self._count(submitted, finished)
            return self.totals

    def _count(self, submitted: Submitted, finished: list[Finished]) -> None:
        seen: dict[tuple[str, str], int] = {}
        for queue, action, n in submitted.counts:
            seen[queue, action] = seen.get((queue, action), 0) + n
        for f in finished:
            seen[f.queue, f.action] = seen.get((f.queue, f.action), 0) + f.tasks
        self.labels.admit(sorted(seen, key=lambda pair: (-seen[pair], pair)))
        t = self.totals
        for queue, action, n in submitted.counts:
            _add(t.submitted, self.labels.of(queue, action), n)
        for f in finished:
            pair = self.labels.of(f.queue, f.action)
            _add(t.finished, (*pair, f.status.value), f.tasks)
            _add(t.attempts, (*pair, LAST_OUTCOME[f.status]), f.started)
            _add(t.attempts, (*pair, "failed"), f.attempts - f.started)
            _add(t.recovered, pair, f.recovered)
            if f.timed:
                t.wait.setdefault(pair, Histogram()).add(f.wait_le, f.timed, f.wait_sum_s)
                t.run.setdefault(pair, Histogram()).add(f.run_le, f.timed, f.run_sum_s)
