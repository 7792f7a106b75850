"""What every driver does alike with task rows: one column order, one way back to a Task,
one way to build the Task an enqueue stored, counts, claims, the conditions of a filter,
the figures of ``GET /stats`` and ``GET /queues`` from what a driver read; and the same for
the rows of the workers and keys tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from taskq import codec
from taskq.errors import InvalidTask, StoreUnavailable
from taskq.filters import TaskFilter, like_pattern
from taskq.flow import QueueSettings, Rate
from taskq.keys import Scope, StoredKey
from taskq.roster import TICK_PREFIX, WorkerInfo, tick_of
from taskq.stats import Percentiles, QueueList, QueueStats, Throughput, WindowStats
from taskq.task import Claimed, NewTask, Status, Task, claim_order

COLUMNS = (
    "seq, id, action, payload, queue, priority, status, result, error, errors, attempts,"
    " max_attempts, timeout_s, run_at, created_at, started_at, processed_at, cancel_requested,"
    " idempotency_key, fingerprint, trace_context, unique_key, concurrency_key"
)
WORKER_COLUMNS = "id, host, pid, queues, concurrency, lease_s, schedules, started_at, last_seen"
KEY_COLUMNS = "name, scope, digest, created_at, last_used_at"
QUEUE_COLUMNS = "name, paused, concurrency, updated_at, rate_limit, rate_period_s, key_concurrency"
# the message a task's attempt records when lease rescue takes it from a lost worker
LEASE_LOST = "worker lost: its process died, or its lease lapsed unrenewed"


def row_to_task(row: Sequence[Any]) -> Task:
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
        trace_context=row[20],
        unique_key=row[21],
        concurrency_key=row[22],
    )


def enqueued(new: NewTask, *, seq: int, now: float) -> Task:
    """The Task an enqueue stored for ``new`` (as ``queued``), without reading it back."""
    return Task(
        seq=seq,
        id=new.id,
        action=new.action,
        payload=new.data,
        status=Status.QUEUED,
        queue=new.queue,
        priority=new.priority,
        max_attempts=new.max_attempts,
        timeout_s=new.timeout_s,
        run_at=now if new.run_at is None else new.run_at,
        created_at=now,
        idempotency_key=new.idempotency_key,
        fingerprint=new.fingerprint,
        trace_context=new.trace_context,
        unique_key=new.unique_key,
        concurrency_key=new.concurrency_key,
    )


def holders(
    skipped: Sequence[NewTask], by_key: Iterable[Task], by_unique: Iterable[Task]
) -> list[Task]:
    """The stored task each of the ``skipped`` tasks of an enqueue yields to: the one holding
    its idempotency key (among ``by_key``), else the newest holding its unique key (among
    ``by_unique``, one per key)."""
    keyed = {t.idempotency_key: t for t in by_key}
    unique = {t.unique_key: t for t in by_unique}
    found = []
    for task in skipped:
        holder = keyed.get(task.idempotency_key) or unique.get(task.unique_key)
        if holder is None and not (task.idempotency_key or task.unique_key):
            raise InvalidTask(f"a task with id {task.id} is stored already", field="id")
        if holder is None:  # pruned in between: the key is free again
            raise StoreUnavailable("a task's key changed hands during the enqueue, try again")
        found.append(holder)
    return found


def claimed(rows: Iterable[Sequence[Any]]) -> Claimed:
    """A claim's returned rows, split into started and prefetched tasks, each in claim
    order (RETURNING promises no order)."""
    tasks = sorted(map(row_to_task, rows), key=claim_order)
    return Claimed(
        started=[t for t in tasks if t.status is Status.RUNNING],
        prefetched=[t for t in tasks if t.status is not Status.RUNNING],
    )


def claim_statement(
    claims: Mapping[str, str],
    *,
    worker_id: str,
    n: int,
    queues: Sequence[str] | None,
    lease_s: float,
    now: float,
    start: int,
    queue_list: Callable[[list[str]], Any] = list,
) -> tuple[str, dict[str, Any]]:
    """The claim statement to run and its parameters, alike for every SQL driver.

    ``claims`` holds a driver's claim statement for each way of choosing ready tasks: of
    any queue, of one queue (its own index hands rows over in claim order), of several
    (passed as ``queue_list`` makes them: a list, or JSON text).
    """
    args: dict[str, Any] = {
        "worker": worker_id,
        "lease": now + lease_s,
        "now": now,
        "n": n,
        "start": max(0, min(start, n)),
    }
    variant = ready_variant(queues)
    if not queues:
        return claims[variant], args
    if len(queues) == 1:
        return claims[variant], {**args, "queue": queues[0]}
    return claims[variant], {**args, "queues": queue_list(list(queues))}


def ready_variant(queues: Sequence[str] | None) -> str:
    """Which ready_* statement chooses the tasks of ``queues`` (None: every queue)."""
    if not queues:
        return "ready_any_queue"
    return "ready_in_queue" if len(queues) == 1 else "ready_in_queues"


def counts(rows: Iterable[Sequence[Any]]) -> dict[Status, int]:
    """``status, count`` rows as a count for every status (0 where none)."""
    found = {Status(status): n for status, n in rows}
    return {s: found.get(s, 0) for s in Status}


def filter_clause(
    fragments: Mapping[str, str],
    task_filter: TaskFilter,
    *,
    before_seq: int | None = None,
    value_list: Callable[[list[str]], Any] = list,
) -> tuple[str, dict[str, Any]]:
    """The condition selecting ``task_filter``'s tasks (and those before ``before_seq``),
    from a dialect's fragments (one per condition, named ``filter_<name>``), and its
    parameters; ``TRUE`` for the empty filter.

    One value of a field is compared with ``=``, which lets the (status, seq) and
    (action, seq) indexes hand rows over newest first (and the id's own index find one
    task); several go as one list parameter
    (``value_list`` makes it: a list, or JSON text).
    """
    given: dict[str, Any] = {}
    for name, values in (
        ("id", list(task_filter.ids)),
        ("status", [s.value for s in task_filter.statuses]),
        ("queue", list(task_filter.queues)),
        ("action", list(task_filter.actions)),
        ("idempotency_key", list(task_filter.idempotency_keys)),
    ):
        unique = list(dict.fromkeys(values))
        if len(unique) == 1:
            given[name] = unique[0]
        elif unique:
            given[f"{name}es" if name == "status" else f"{name}s"] = value_list(unique)
    given["created_after"] = task_filter.created_after
    given["created_before"] = task_filter.created_before
    if task_filter.error_contains is not None:
        given["error_pattern"] = like_pattern(task_filter.error_contains)
    given["before"] = before_seq
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        return "TRUE", {}
    return " AND ".join(fragments[f"filter_{name}"].strip() for name in given), given


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile of ascending ``ordered`` (not empty), interpolated
    between the two nearest values as PostgreSQL's ``percentile_cont`` does, so that every
    driver gives the same answer."""
    place = fraction * (len(ordered) - 1)
    below = int(place)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (place - below)


def percentiles(values: Iterable[float]) -> Percentiles:
    """The median and 95th percentile of ``values``; both None for none."""
    ordered = sorted(values)
    if not ordered:
        return Percentiles()
    return Percentiles(percentile(ordered, 0.5), percentile(ordered, 0.95))


def window_stats(
    throughput: Sequence[Throughput],
    sample: Sequence[tuple[float, float, float]],
    *,
    now: float,
    sample_size: int,
) -> list[WindowStats]:
    """Each window's figures from its throughput and one ``sample``: ``(processed_at,
    wait_s, run_s)`` of the (at most ``sample_size``) completed and failed tasks that
    finished last in the longest window. Those that finished last in a shorter window are
    the sample's own newest, so one read serves every window."""
    found = []
    for window in throughput:
        since = now - window.window_s
        inside = [(wait, run) for at, wait, run in sample if at > since]
        found.append(
            WindowStats(
                window.window_s,
                window.completed,
                window.failed,
                wait_s=percentiles(wait for wait, _ in inside),
                run_s=percentiles(run for _, run in inside),
                sampled=window.completed + window.failed > sample_size,
            )
        )
    return found


def queue_list(
    count_rows: Iterable[Sequence[Any]],
    oldest_rows: Iterable[tuple[str, float]],
    throughput_rows: Mapping[int, Iterable[Sequence[Any]]],
    *,
    now: float,
    limit: int,
) -> QueueList:
    """The first ``limit`` queues by name of ``count_rows`` (``queue, status, count``),
    with the age at ``now`` of the ``queue, min(run_at)`` of ``oldest_rows`` and, per
    window length, the ``queue, completed, failed`` of ``throughput_rows``."""
    by_queue: dict[str, list[tuple[str, int]]] = {}
    for queue, status, n in count_rows:
        by_queue.setdefault(queue, []).append((status, n))
    names = sorted(by_queue)
    oldest: dict[str, float] = dict(oldest_rows)
    ended = {
        window_s: {queue: (int(done), int(failed)) for queue, done, failed in found}
        for window_s, found in throughput_rows.items()
    }
    return QueueList(
        now,
        [
            QueueStats(
                name,
                counts(by_queue[name]),
                None if name not in oldest else now - oldest[name],
                [
                    Throughput(window_s, *found.get(name, (0, 0)))
                    for window_s, found in ended.items()
                ],
            )
            for name in names[:limit]
        ],
        more=len(names) > limit,
    )


def worker_args(worker: WorkerInfo) -> dict[str, Any]:
    """The parameters of the announce statement (JSON columns as text)."""
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "queues": None if worker.queues is None else codec.encode(worker.queues),
        "concurrency": worker.concurrency,
        "lease_s": worker.lease_s,
        "schedules": codec.encode(worker.schedules),
        "started_at": worker.started_at,
        "last_seen": worker.last_seen,
    }


def live_workers(
    worker_rows: Iterable[Sequence[Any]], running_rows: Iterable[Sequence[Any]]
) -> list[WorkerInfo]:
    """Workers from rows selected as WORKER_COLUMNS, each with the ids its
    ``worker_id, id`` ``running_rows`` give it (in their order)."""
    running: dict[str, list[str]] = {}
    for worker_id, task_id in running_rows:
        running.setdefault(worker_id, []).append(str(task_id))
    return [
        WorkerInfo(
            id=row[0],
            host=row[1],
            pid=row[2],
            queues=None if row[3] is None else codec.decode(row[3]),
            concurrency=row[4],
            lease_s=row[5],
            schedules=codec.decode(row[6]),
            started_at=row[7],
            last_seen=row[8],
            running=running.get(row[0], []),
        )
        for row in worker_rows
    ]


def tick_args(action: str) -> dict[str, str]:
    """The parameters of the last_tick statement for ``action``."""
    return {"action": action, "prefix": f"{TICK_PREFIX}{action}:"}


def last_ticks(found: Iterable[tuple[str, str | None]]) -> dict[str, float]:
    """``action, newest tick key`` pairs as each action's last tick (those that have one)."""
    ticks = {action: None if key is None else tick_of(key, action) for action, key in found}
    return {action: tick for action, tick in ticks.items() if tick is not None}


def key_args(key: StoredKey) -> dict[str, Any]:
    """The parameters of the create_key statement (the scope by its label)."""
    return {
        "name": key.name,
        "scope": key.scope.label,
        "digest": key.digest,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
    }


def row_to_key(row: Sequence[Any]) -> StoredKey:
    """A key from a row selected as KEY_COLUMNS."""
    name, scope, digest, created_at, last_used_at = row
    return StoredKey(name, Scope.parse(scope), created_at, last_used_at, digest)


def row_to_queue(row: Sequence[Any]) -> QueueSettings:
    """A queue's settings from a row selected as QUEUE_COLUMNS."""
    name, paused, concurrency, updated_at, rate_limit, rate_period_s, key_concurrency = row
    rate = None if rate_limit is None else Rate(rate_limit, rate_period_s)
    return QueueSettings(name, bool(paused), concurrency, updated_at, rate, key_concurrency)
