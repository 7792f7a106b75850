"""The queue driver protocol: the one boundary between taskq's core and a backend.

A driver stores tasks and moves them through their lifecycle. Each verb is one atomic
step; the worker and the API compose them. Every write that returns has been committed:
a driver never acknowledges what a crash could still lose (``enqueue_in`` aside, which
writes in the caller's own transaction, for the caller to commit).

Ownership: a worker ``claim``s tasks under its ``worker_id`` with a lease, in one write:
those its idle runners take are started at once (``running``), the others are
*prefetched* (still ``queued``, but owned) until ``start`` marks them ``running``. ``complete``,
``retry_later`` and ``fail`` only apply while the caller still owns the task: a worker
whose lease was lost (and whose task another worker took over) cannot overwrite the new
owner's outcome. ``recover`` returns tasks whose lease has expired to the queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

from taskq.events import Deliver
from taskq.filters import EVERY_TASK, BulkResult, TaskFilter
from taskq.flow import KEEP, Keep, QueueSettings, Rate
from taskq.keys import StoredKey
from taskq.metrics import Finished, Submitted
from taskq.roster import WorkerInfo
from taskq.stats import QueueList, WindowStats
from taskq.task import AttemptError, Claimed, NewTask, Status, Task


class Uncommitted(Protocol):
    """What ``Driver.enqueue_in`` stored in a caller's transaction, until it ends."""

    @property
    def tasks(self) -> list[Task]:
        """As ``enqueue`` would answer: a taken key's stored task in its NewTask's place."""

    def is_open(self) -> bool:
        """Whether the caller's transaction is still open (neither committed nor rolled
        back)."""

    async def committed(self, tasks: Sequence[Task]) -> list[Task]:
        """Those of ``tasks`` that are stored, read through the driver's own connection (it
        cannot see an open transaction of the caller's); wakes idle workers if one is due.
        """


class Driver(Protocol):
    """What every backend (SQLite, PostgreSQL, …) provides."""

    url: str

    async def open(self) -> None:
        """Connect. Does not migrate; raises SchemaMismatch if migrations are pending."""

    async def close(self) -> None:
        """Release connections; pending writes are committed first."""

    # producers
    async def enqueue(self, tasks: Sequence[NewTask], *, now: float) -> list[Task]:
        """Insert tasks as ``queued``, in one commit, and wake idle workers.

        A task whose ``idempotency_key`` is already stored is not inserted: the stored task
        is returned in its place (its ``id`` differs from the NewTask's).
        """

    async def enqueue_in(
        self, connection: object, tasks: Sequence[NewTask], *, now: float
    ) -> Uncommitted:
        """Insert tasks as ``enqueue`` does, through the caller's own open ``connection``
        to this store, in its transaction, without committing: they exist if and only if
        that transaction commits. A taken idempotency key is read on ``connection`` (it
        sees its own transaction). TypeError for a connection of a kind this driver cannot
        use, ValueError for one to another database."""

    async def cancel(self, task_id: str, *, now: float) -> Task | None:
        """Cancel a queued task at once, or ask the worker running it to stop.

        Returns the task as it now is (a finished task unchanged), None if unknown.
        """

    async def requeue(self, task_id: str, *, now: float) -> tuple[bool, Task | None]:
        """Queue a failed or cancelled task again with a fresh attempt budget.

        Returns whether it was re-queued, and the task as it now is (None if unknown).
        """

    async def delete(self, task_id: str) -> tuple[bool, Task | None]:
        """Delete a finished (completed, failed or cancelled) task, atomically: a queued or
        running one stays. Returns whether it was deleted, and the task as it was (None if
        unknown)."""

    # bulk actions: each one write, on at most ``limit`` of the tasks it applies to among
    # those ``task_filter`` matches (newest first), telling whether more are left

    async def retry_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        """``requeue`` failed and cancelled tasks; wakes idle workers."""

    async def cancel_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        """``cancel`` queued tasks, and running ones not yet asked to stop."""

    async def delete_matching(self, task_filter: TaskFilter, *, limit: int) -> BulkResult:
        """Delete finished tasks."""

    async def prune(self, *, before: float, limit: int) -> int:
        """Delete up to ``limit`` finished tasks processed before ``before``."""

    # readers
    async def get(self, task_id: str) -> Task | None:
        """One task by id."""

    async def list_tasks(
        self,
        task_filter: TaskFilter = EVERY_TASK,
        *,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        """The tasks ``task_filter`` matches, newest first; ``before_seq`` continues a page."""

    async def counts(self) -> dict[Status, int]:
        """How many tasks are in each status."""

    async def queue_stats(self, *, now: float, windows: Sequence[int], limit: int) -> QueueList:
        """The queues that have tasks, by name (at most ``limit``): each one's counts by
        status, its oldest ready task's ``run_at`` and its throughput over each of the
        last ``windows`` seconds before ``now``."""

    async def window_stats(
        self, *, now: float, windows: Sequence[int], sample_size: int
    ) -> list[WindowStats]:
        """The store's throughput over each of the last ``windows`` seconds before
        ``now``, with wait and run time percentiles over at most ``sample_size`` of the
        tasks that finished last in each (``rows.percentile`` says how they are taken)."""

    # GET /metrics (taskq/metrics.py): what happened since the previous scrape, read in
    # one aggregated statement each, at a cost that follows the throughput

    async def finished_between(self, *, after: float, until: float) -> list[Finished]:
        """The tasks that finished (completed, failed, cancelled) with ``processed_at`` in
        (``after``, ``until``], aggregated by (queue, action, status) into Finished
        records (attempts, lease recoveries, wait and run histograms over
        ``metrics.BUCKETS_S``)."""

    async def submitted_after(self, *, after_seq: int, until: float) -> Submitted:
        """The tasks stored after ``after_seq`` (by ``seq``), up to but excluding the first
        one created after ``until``, counted by (queue, action), and the ``seq`` the next
        read continues after (``after_seq`` if none)."""

    async def seq_before(self, at: float) -> int:
        """The ``seq`` of the newest task created at or before ``at`` (0 if none), found
        walking back from the newest: where counting submissions from ``at`` starts."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    # workers
    async def claim(
        self,
        worker_id: str,
        n: int,
        *,
        queues: Sequence[str] | None,
        lease_s: float,
        now: float,
        start: int = 0,
    ) -> Claimed:
        """Take up to ``n`` ready tasks (highest priority first, FIFO within one), in one
        statement: the first ``start`` of them are started (``running``, attempt counted),
        for runners that are idle now; the rest are prefetched (``queued`` and owned).

        Flow control (taskq/flow.py), read in the same write: no task of a paused queue is
        taken; a limited queue's tasks are only taken to be started, and only as many as
        keep its ``running`` tasks within its concurrency."""

    async def start(
        self, task_id: str, worker_id: str, *, lease_s: float, now: float
    ) -> int | None:
        """Mark a claimed task ``running`` and count the attempt.

        Returns the attempt's number, or None if the task is no longer ours (cancelled, or
        taken over after its lease lapsed).
        """

    async def complete(self, task_id: str, worker_id: str, result_json: str, *, now: float) -> bool:
        """Record success (the result as JSON text); False if the task is no longer ours."""

    async def retry_later(
        self, task_id: str, worker_id: str, error: AttemptError, *, run_at: float
    ) -> bool:
        """Record a failed attempt and queue the task again from ``run_at``."""

    async def fail(self, task_id: str, worker_id: str, error: AttemptError, *, now: float) -> bool:
        """Record a failed attempt and dead-letter the task (``failed``)."""

    async def mark_cancelled(
        self, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        """Record that a running attempt stopped because its task was cancelled."""

    async def cancel_requests(self, worker_id: str) -> list[str]:
        """Ids of this worker's running tasks whose cancellation was requested."""

    async def release(self, task_ids: Sequence[str], worker_id: str) -> int:
        """Give back claimed tasks that were never started (graceful shutdown)."""

    async def renew_leases(
        self, worker_id: str, task_ids: Sequence[str], *, lease_s: float, now: float
    ) -> int:
        """Extend the leases of ``task_ids``, those of them this worker still owns (its
        heartbeat). Only the tasks the worker really holds: a row it let go of after a
        failed write must lapse and be recovered, not be kept alive by the heartbeat."""

    async def recover(
        self,
        *,
        now: float,
        default_max_attempts: int,
        dead_worker_ids: Sequence[str] = (),
    ) -> int:
        """Requeue (or fail, if out of attempts) tasks whose lease expired or whose
        worker is known dead; returns how many were recovered."""

    async def held_worker_ids(self) -> list[str]:
        """Worker ids that currently hold tasks (to find dead local workers at start-up)."""

    async def listen_for_work(self) -> None:
        """Hear of new work from now on: a worker calls it once, before its first claim, so
        that what is enqueued after that claim wakes it. A process that only enqueues never
        calls it, and is never told of its own writes."""

    async def wait_for_work(self, timeout_s: float) -> None:
        """Return when new work may be ready, or after ``timeout_s``."""

    # events: carried between the processes of one store by its wake-up channel
    # (taskq/events.py makes and reads the messages)

    async def publish_events(self, message: bytes) -> None:
        """Send ``message`` to every process listening on this store, this one too; best
        effort, like a wake-up."""

    async def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        """Call ``deliver`` with each message from now on (None when some may have been
        missed); returns how to stop."""

    # the workers table (taskq/roster.py): who is working, and on what schedules

    async def announce(self, worker: WorkerInfo) -> None:
        """Store ``worker``'s row (``running`` aside); an id already stored only has its
        ``last_seen`` moved on."""

    async def beat(self, worker_id: str, *, now: float) -> bool:
        """Move the worker's ``last_seen`` to ``now`` and, in the same write, delete the
        rows of the workers that are no longer live at ``now``. False if the worker's own
        row is not stored (forgotten while it could not beat: announce it again)."""

    async def retire(self, worker_id: str) -> None:
        """Delete the worker's row (a clean stop)."""

    async def workers(self, *, now: float) -> list[WorkerInfo]:
        """The workers live at ``now`` (``WorkerInfo.is_live``), oldest first, each with
        the ids of the tasks it runs (``running``, by seq)."""

    async def last_ticks(self, actions: Sequence[str]) -> dict[str, float]:
        """The tick of each action's newest stored tick task (``roster.tick_key``); an
        action without one is left out."""

    # API keys (taskq/keys.py): the store keeps each key's digest, never the key

    async def create_key(self, key: StoredKey) -> bool:
        """Store ``key``; False (nothing stored) if its name is taken."""

    async def list_keys(self) -> list[StoredKey]:
        """Every key, by name."""

    async def find_key(self, digest: str) -> StoredKey | None:
        """The key whose digest is ``digest``."""

    async def has_keys(self) -> bool:
        """Whether any key is stored."""

    async def touch_key(self, name: str, *, now: float) -> None:
        """Set the key's ``last_used_at`` to ``now``."""

    async def revoke_key(self, name: str) -> bool:
        """Delete the key named ``name``; False if there is none."""

    # flow control (taskq/flow.py): each queue's settings, read by every claim

    async def update_queue(
        self,
        name: str,
        *,
        paused: bool | None = None,
        concurrency: int | Literal[Keep.KEEP] | None = KEEP,
        rate: Rate | Literal[Keep.KEEP] | None = KEEP,
        key_concurrency: int | Literal[Keep.KEEP] | None = KEEP,
        now: float,
    ) -> QueueSettings:
        """Change the settings given (None / KEEP: left as they are) of queue ``name``,
        storing its row if it had none, in one write; returns them as they now are. A
        change leaving the queue unpaused wakes idle workers."""

    async def queue_settings(self) -> dict[str, QueueSettings]:
        """Every stored queue's settings, by name (a queue left out has the defaults)."""
