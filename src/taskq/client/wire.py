"""What the client reads and sends: the API's answers as typed records.

Field names are the API's (``api/wire.py``); times are aware ``datetime``s in UTC instead
of ISO 8601 text. Unknown fields a newer service adds are ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Required, TypedDict

import msgspec

from taskq.api.wire import Counts, QueueWindowOut, StatsWindowOut
from taskq.task import Status


class AttemptError(msgspec.Struct, frozen=True, gc=False):
    """One failed attempt of a task."""

    attempt: int
    error: str
    at: datetime | None
    traceback: str | None


class Task(msgspec.Struct, frozen=True, gc=False):
    """One task as the service shows it: what was submitted, where it is, what came of it."""

    id: str
    action: str
    payload: dict[str, Any]
    status: Status
    result: Any
    error: str | None
    errors: list[AttemptError]
    attempts: int
    max_attempts: int | None
    queue: str
    priority: int
    timeout: float | None
    run_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    processed_at: datetime | None
    cancel_requested: bool
    # an older service's answer lacks them
    unique_key: str | None = None
    concurrency_key: str | None = None

    @property
    def is_finished(self) -> bool:
        """Completed, failed or cancelled: it will not change on its own any more."""
        return self.status.is_terminal


class Accepted(msgspec.Struct, frozen=True, gc=False):
    """A submission or a retry the service accepted: the task's id and status.

    ``created``: this call stored a new task. False after a retry, and for a submission
    under the caller's ``idempotency_key`` when the key named a task stored before (by an
    earlier call), or with a ``unique_key`` that a queued or running task holds: that task
    is the one answered. (With a ``unique_key``, a call whose first try stored the task and
    whose answer was lost says False too: the service cannot tell the two apart.)
    """

    id: str
    status: Status
    created: bool = True


class TaskPage(msgspec.Struct, frozen=True, gc=False):
    """One page of ``GET /tasks``."""

    tasks: list[Task]
    next_cursor: str | None


class Batch(msgspec.Struct, frozen=True, gc=False):
    """The answer to ``POST /tasks/batch``, in the order submitted."""

    tasks: list[Accepted]


class Stats(msgspec.Struct, frozen=True, gc=False):
    """``GET /stats``: the store's tasks by status, and per window the tasks that ended and
    their wait and run times."""

    counts: Counts
    windows: list[StatsWindowOut]
    generated_at: datetime


class QueueStats(msgspec.Struct, frozen=True, gc=False):
    """One queue that has tasks (``GET /queues``)."""

    name: str
    counts: Counts
    oldest_ready_age_s: float | None
    windows: list[QueueWindowOut]


class Queues(msgspec.Struct, frozen=True, gc=False):
    """``GET /queues``: the queues that have tasks, by name; ``more`` if others exist."""

    queues: list[QueueStats]
    more: bool
    generated_at: datetime


class Submission(TypedDict, total=False):
    """One task for ``submit_many``: the fields of ``POST /tasks``, and its idempotency key."""

    action: Required[str]
    data: dict[str, Any] | None
    queue: str
    priority: int
    max_attempts: int
    timeout: float
    delay: float
    run_at: datetime | str | float
    unique_key: str
    concurrency_key: str
    idempotency_key: str
