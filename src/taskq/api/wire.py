"""What crosses the wire, declared once: the request and answer types of the HTTP API.

The OpenAPI document is generated from these types (``api/openapi.py``), and submissions
are decoded by them, so the document cannot drift from what the service accepts and
answers. Field names match the store's columns and the README.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from taskq.filters import DEFAULT_BULK_LIMIT, MAX_BULK_LIMIT, MAX_ERROR_SEARCH
from taskq.stats import SAMPLE_SIZE
from taskq.task import (
    INT32_MAX,
    INT32_MIN,
    MAX_ACTION_LENGTH,
    MAX_QUEUE_LENGTH,
    MAX_TIMEOUT_S,
    MAX_UNIQUE_KEY,
    Status,
)

RATE_LIMIT_OUT = "at most N of its tasks start in any period (100/s, 10/min); null: no limit"
KEY_CONCURRENCY_OUT = (
    "at most this many of its tasks holding one concurrency_key run at once; null: 1"
)
# what a rate limit looks like (taskq/flow.py's Rate.parse checks its bounds)
RATE_PATTERN = r"^\s*[0-9]+\s*/\s*([0-9]+(\.[0-9]+)?)?\s*(s|min|h|d)\s*$"
# How deep a body's JSON may nest. Deeper documents are refused before anything else
# reads them: decoding, encoding and each store's JSON functions recurse.
MAX_DEPTH = 64
MAX_DELAY_S = 100 * 365 * 86_400.0
MAX_IDEMPOTENCY_KEY = 200
MAX_BATCH = 1000  # tasks in one POST /tasks/batch
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Seconds = Annotated[float, Meta(description="seconds")]
# a task id as the service writes it: a UUID, lower-case, 8-4-4-4-12 (task.validate's rule)
CANONICAL_UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
TaskId = Annotated[str, Meta(extra_json_schema={"format": "uuid", "pattern": CANONICAL_UUID})]
Timestamp = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]


class Submission(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /tasks``: a task to run."""

    action: Annotated[str, Meta(min_length=1, max_length=MAX_ACTION_LENGTH)]
    data: dict[str, Any] | None = None
    queue: Annotated[str, Meta(min_length=1, max_length=MAX_QUEUE_LENGTH)] = "default"
    priority: Annotated[int, Meta(ge=INT32_MIN, le=INT32_MAX, description="higher first")] = 0
    max_attempts: Annotated[int, Meta(ge=1, le=INT32_MAX)] | None = None
    timeout: (
        Annotated[float, Meta(gt=0, le=MAX_TIMEOUT_S, description="seconds per attempt")] | None
    ) = None
    delay: Annotated[float, Meta(ge=0, le=MAX_DELAY_S, description="seconds")] | None = None
    run_at: (
        Annotated[
            str | float,
            Meta(description="ISO 8601 (no offset: UTC) or epoch seconds, 1970 to 9999"),
        ]
        | None
    ) = None
    unique_key: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=MAX_UNIQUE_KEY,
                description="while a task holding this key is queued or running, a "
                "submission with it returns that task (200) instead of storing another",
            ),
        ]
        | None
    ) = None
    concurrency_key: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=MAX_UNIQUE_KEY,
                description="at most the queue's key_concurrency (1 unless set) of its tasks "
                "holding this key run at once",
            ),
        ]
        | None
    ) = None


class BatchItem(Submission, forbid_unknown_fields=True, kw_only=True):
    """One task of ``POST /tasks/batch``: what ``POST /tasks`` takes, and its key."""

    idempotency_key: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=MAX_IDEMPOTENCY_KEY,
                description="as the `Idempotency-Key` header of `POST /tasks`, for this task",
            ),
        ]
        | None
    ) = None


class BatchSubmission(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /tasks/batch``: tasks stored together, in one commit, or none of them."""

    tasks: Annotated[list[BatchItem], Meta(min_length=1, max_length=MAX_BATCH)]


class BatchAccepted(msgspec.Struct, gc=False):
    """One task of a batch: ``created`` is false when its key returned the task an
    earlier request stored."""

    id: TaskId
    status: Status
    created: bool


class BatchOut(msgspec.Struct, gc=False):
    """The answer to a batch: its tasks, in the order they were given."""

    tasks: list[BatchAccepted]


class Accepted(msgspec.Struct, gc=False):
    """The answer to a submission or a retry: the task's id and status."""

    id: Annotated[str, Meta(extra_json_schema={"format": "uuid"})]
    status: Status


class AttemptErrorOut(msgspec.Struct, gc=False):
    """One failed attempt."""

    attempt: int
    error: str
    at: Timestamp | None
    traceback: str | None


class TaskOut(msgspec.Struct, gc=False):
    """One task as stored: what was submitted, where it is, what came of it."""

    id: Annotated[str, Meta(extra_json_schema={"format": "uuid"})]
    action: str
    payload: Annotated[dict[str, Any], Meta(description="the submitted `data`")]
    status: Status
    result: Annotated[Any, Meta(description="the action's JSON result once completed")]
    error: Annotated[str | None, Meta(description="the last attempt's error")]
    errors: list[AttemptErrorOut]
    attempts: int
    max_attempts: int | None
    queue: str
    priority: int
    timeout: Seconds | None
    run_at: Timestamp | None
    created_at: Timestamp | None
    started_at: Timestamp | None
    processed_at: Timestamp | None
    cancel_requested: bool
    unique_key: Annotated[str | None, Meta(description="as submitted (see `POST /tasks`)")]
    concurrency_key: Annotated[str | None, Meta(description="as submitted (see `POST /tasks`)")]


class TaskPage(msgspec.Struct, gc=False):
    """One page of ``GET /tasks``, newest first."""

    tasks: list[TaskOut]
    count: int
    next_cursor: Annotated[
        str | None, Meta(description="pass as `cursor` for the next page; null on the last")
    ]


Moment = Annotated[
    str | float, Meta(description="ISO 8601 (no offset: UTC) or epoch seconds, 1970 to 9999")
]


class FilterIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which tasks a bulk action is about: the parameters of ``GET /tasks``, as JSON. Every
    field given must hold; a list matches any of its values."""

    id: Annotated[
        list[TaskId],
        Meta(min_length=1, description="any of these tasks (the dashboard's selection)"),
    ] = msgspec.field(default_factory=list)
    status: Annotated[list[Status], Meta(min_length=1)] = msgspec.field(default_factory=list)
    queue: Annotated[list[str], Meta(min_length=1)] = msgspec.field(default_factory=list)
    action: Annotated[list[str], Meta(min_length=1)] = msgspec.field(default_factory=list)
    created_after: Annotated[Moment, Meta(description="created at or after")] | None = None
    created_before: Annotated[Moment, Meta(description="created before")] | None = None
    q: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=MAX_ERROR_SEARCH,
                description="text the task's `error` contains (ASCII case ignored)",
            ),
        ]
        | None
    ) = None


class BulkRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /tasks/bulk/{retry,cancel,delete}``: a filter (or ``all``, to act on every
    task) and how many tasks this call may change at most."""

    filter: FilterIn | None = None
    all: Annotated[bool, Meta(description="act on every task; only without a filter")] = False
    limit: Annotated[int, Meta(ge=1, le=MAX_BULK_LIMIT)] = DEFAULT_BULK_LIMIT


class BulkOut(msgspec.Struct, gc=False):
    """What a bulk action did."""

    changed: Annotated[int, Meta(description="tasks this call changed (at most `limit`)")]
    more: Annotated[bool, Meta(description="tasks it applies to are left: call again")]


class Deleted(msgspec.Struct, gc=False):
    """The answer to ``DELETE /tasks/{id}``."""

    id: Annotated[str, Meta(extra_json_schema={"format": "uuid"})]
    deleted: bool


class Counts(msgspec.Struct, gc=False):
    """Tasks by status, every status present."""

    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int


WindowSeconds = Annotated[int, Meta(description="the window: the last this many seconds")]
PerSecond = Annotated[float, Meta(description="tasks per second over the window")]


class QueueWindowOut(msgspec.Struct, gc=False):
    """A queue's tasks that ended ``completed`` and ``failed`` in a window (by
    ``processed_at``), and the same per second."""

    window_s: WindowSeconds
    completed: int
    failed: int
    completed_per_s: PerSecond
    failed_per_s: PerSecond


class QueueOut(msgspec.Struct, gc=False):
    """One queue that has tasks."""

    name: str
    counts: Counts
    oldest_ready_age_s: Annotated[
        float | None,
        Meta(
            description="seconds since the `run_at` of its oldest task that is queued, due "
            "and held by no worker; null if none"
        ),
    ]
    windows: list[QueueWindowOut]
    paused: Annotated[bool, Meta(description="its tasks are not started (flow control)")] = False
    concurrency: Annotated[
        int | None,
        Meta(description="at most this many of its tasks run at once; null: no limit"),
    ] = None
    rate_limit: Annotated[str | None, Meta(description=RATE_LIMIT_OUT)] = None
    key_concurrency: Annotated[int | None, Meta(description=KEY_CONCURRENCY_OUT)] = None


class QueuesOut(msgspec.Struct, gc=False):
    """``GET /queues``: the queues that have tasks or settings, by name."""

    queues: list[QueueOut]
    more: Annotated[bool, Meta(description="more queues exist than the answer holds")]
    generated_at: Timestamp


class PercentilesOut(msgspec.Struct, gc=False):
    """A duration's median and 95th percentile, in seconds; null with no task."""

    p50: Seconds | None
    p95: Seconds | None


class StatsWindowOut(msgspec.Struct, gc=False):
    """The store's figures over one window."""

    window_s: WindowSeconds
    completed: int
    failed: int
    completed_per_s: PerSecond
    failed_per_s: PerSecond
    wait_s: Annotated[
        PercentilesOut,
        Meta(description="`started_at - run_at` of the completed and failed tasks"),
    ]
    run_s: Annotated[
        PercentilesOut,
        Meta(description="`processed_at - started_at` of the completed and failed tasks"),
    ]
    sampled: Annotated[
        bool,
        Meta(description=f"the percentiles saw only the {SAMPLE_SIZE:,} tasks that finished last"),
    ]


class StatsOut(msgspec.Struct, gc=False):
    """``GET /stats``: the whole store."""

    counts: Counts
    windows: list[StatsWindowOut]
    generated_at: Timestamp


class WorkerOut(msgspec.Struct, gc=False):
    """One live worker: it beat within its lease (three heartbeats)."""

    id: str
    host: str
    pid: int
    queues: Annotated[list[str] | None, Meta(description="the queues it takes; null: all")]
    concurrency: Annotated[int, Meta(description="how many tasks it runs at once at most")]
    running: Annotated[list[str], Meta(description="ids of the tasks it runs now")]
    started_at: Timestamp
    last_seen: Annotated[Timestamp, Meta(description="its last heartbeat")]


class WorkersOut(msgspec.Struct, gc=False):
    """``GET /workers``: the live workers, oldest first."""

    workers: list[WorkerOut]


class ScheduleOut(msgspec.Struct, gc=False):
    """A cron schedule some live worker runs."""

    action: str
    expression: Annotated[str, Meta(description="a cron expression, in UTC")]
    next_run: Annotated[Timestamp, Meta(description="its next tick")]
    last_tick: Annotated[
        Timestamp | None,
        Meta(description="the last tick enqueued for the action; null if no tick task is stored"),
    ]


class SchedulesOut(msgspec.Struct, gc=False):
    """``GET /schedules``: each schedule once, by action and expression."""

    schedules: list[ScheduleOut]


class Error(msgspec.Struct, omit_defaults=True):
    """Every error answer; ``field`` names the field at fault, when one is."""

    error: str
    field: str | None = None


class Health(msgspec.Struct):
    """``/healthz`` and ``/readyz``."""

    status: str


class TaskEventOut(msgspec.Struct, gc=False):
    """``GET /events``, ``event: task``: one change of one task; ``status`` is the task's
    status after it."""

    kind: Annotated[
        str,
        Meta(
            description="submitted, started, completed, failed, retried, cancelled, "
            "deleted or released"
        ),
    ]
    id: str
    status: Status
    queue: str
    action: str
    attempt: int | None
    at: Timestamp | None


class WorkerEventOut(msgspec.Struct, gc=False):
    """``GET /events``, ``event: worker``: a worker joined or left."""

    kind: Annotated[str, Meta(description="joined or left")]
    id: str
    at: Timestamp | None


class PerSecondOut(msgspec.Struct, gc=False):
    """Changes of the last second, across every process."""

    submitted: int
    started: int
    completed: int
    failed: int


class StatsEventOut(msgspec.Struct, gc=False):
    """``GET /events``, ``event: stats``, once a second."""

    at: Timestamp | None
    per_second: PerSecondOut
    stats: StatsOut


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /session``: sign the dashboard in with an API key."""

    key: Annotated[str, Meta(min_length=1, max_length=200)]


class SessionOut(msgspec.Struct, gc=False):
    """Who the caller is: the scope of its key (``admin`` for anyone while no key exists
    on a loopback service), how it was told (``key``: the Authorization header;
    ``session``: the dashboard's cookie; ``anonymous``), and the token a signed-in page
    sends as ``X-CSRF-Token`` with each change."""

    scope: Annotated[str, Meta(description="read, submit or admin")]
    via: Annotated[str, Meta(description="key, session or anonymous")]
    csrf_token: str | None


class QueuePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PATCH /queues/{name}``: the settings to change; one left out is kept."""

    paused: Annotated[bool, Meta(description="start none of its tasks")] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    concurrency: (
        Annotated[
            Annotated[int, Meta(ge=1, le=INT32_MAX)] | None,
            Meta(description="at most this many of its tasks running at once; null: no limit"),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    rate_limit: (
        Annotated[
            Annotated[str, Meta(pattern=RATE_PATTERN, max_length=40)] | None,
            Meta(
                description="at most N of its tasks start in any period, across every "
                "worker: N/s, N/min, N/h, N/d, or N per several (5/10s); null: no limit",
                examples=["100/s", "10/min"],
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    key_concurrency: (
        Annotated[
            Annotated[int, Meta(ge=1, le=INT32_MAX)] | None,
            Meta(description=KEY_CONCURRENCY_OUT),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class QueueSettingsOut(msgspec.Struct, gc=False):
    """A queue's flow control, as it now is."""

    name: str
    paused: bool
    concurrency: Annotated[int | None, Meta(description="null: no limit")]
    updated_at: Annotated[str | None, Meta(description="when it was last changed")]
    rate_limit: Annotated[str | None, Meta(description=RATE_LIMIT_OUT)]
    key_concurrency: Annotated[int | None, Meta(description=KEY_CONCURRENCY_OUT)]
