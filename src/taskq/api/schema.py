"""What crosses the wire: reading a submission, writing a task, reading list filters."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from taskq import codec
from taskq.api.errors import BadRequest
from taskq.errors import InvalidTask
from taskq.task import DEFAULT_QUEUE, NewTask, Status, Task

SUBMISSION_FIELDS = (
    "action",
    "data",
    "queue",
    "priority",
    "max_attempts",
    "timeout",
    "delay",
    "run_at",
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

_decoder = msgspec.json.Decoder()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTask(f"{name} must be an integer", field=name)
    return value


def _optional_number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not _is_number(value):
        raise InvalidTask(f"{name} must be a number of seconds", field=name)
    return float(value)


def _run_at(body: dict[str, Any]) -> float | None:
    delay, run_at = _optional_number(body, "delay"), body.get("run_at")
    if delay is not None and run_at is not None:
        raise InvalidTask("give delay or run_at, not both", field="run_at")
    if delay is not None:
        if delay < 0:
            raise InvalidTask("delay must not be negative", field="delay")
        return time.time() + delay
    if run_at is None:
        return None
    if _is_number(run_at):
        return float(run_at)
    if isinstance(run_at, str):
        try:
            moment = datetime.fromisoformat(run_at)
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise InvalidTask("run_at must be an ISO 8601 timestamp or epoch seconds", field="run_at")


MAX_IDEMPOTENCY_KEY = 200


def parse_submission(raw: bytes, *, idempotency_key: str | None = None) -> NewTask:
    """A NewTask from a POST /tasks body; BadRequest/InvalidTask name what is wrong.

    With an idempotency key, the task carries a fingerprint of the body (keys sorted), so a
    retried request matches its original however its JSON is laid out.
    """
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            field="Idempotency-Key",
        )
    try:
        body = _decoder.decode(raw)
    except msgspec.DecodeError:
        raise BadRequest("invalid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - set(SUBMISSION_FIELDS))
    if unknown:
        raise InvalidTask(f"unknown field: {unknown[0]}", field=unknown[0])
    action = body.get("action")
    if action is None:
        raise BadRequest("action required", field="action")
    if not isinstance(action, str):
        raise InvalidTask("action must be a string", field="action")
    data = body.get("data")
    if data is not None and not isinstance(data, dict):
        raise InvalidTask("data must be a JSON object", field="data")
    queue = body.get("queue", DEFAULT_QUEUE)
    if not isinstance(queue, str):
        raise InvalidTask("queue must be a string", field="queue")
    return NewTask(
        action=action,
        data=data or {},
        queue=queue,
        priority=_optional_int(body, "priority") or 0,
        max_attempts=_optional_int(body, "max_attempts"),
        timeout_s=_optional_number(body, "timeout"),
        run_at=_run_at(body),
        idempotency_key=idempotency_key,
        fingerprint=None if idempotency_key is None else codec.fingerprint(body),
    )


def iso(timestamp: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC (``…Z``), microsecond precision."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def task_json(task: Task) -> dict[str, Any]:
    """A task as the API shows it; field names match the database columns."""
    return {
        "id": task.id,
        "action": task.action,
        "payload": task.payload,
        "status": task.status.value,
        "result": task.result,
        "error": task.error,
        "errors": [
            {"attempt": e.attempt, "error": e.error, "at": iso(e.at), "traceback": e.traceback}
            for e in task.errors
        ],
        "attempts": task.attempts,
        "max_attempts": task.max_attempts,
        "queue": task.queue,
        "priority": task.priority,
        "timeout": task.timeout_s,
        "run_at": iso(task.run_at),
        "created_at": iso(task.created_at),
        "started_at": iso(task.started_at),
        "processed_at": iso(task.processed_at),
        "cancel_requested": task.cancel_requested,
    }


class ListQuery(msgspec.Struct, frozen=True):
    status: Status | None
    action: str | None
    limit: int
    before_seq: int | None


def parse_list_query(params: Any) -> ListQuery:
    """Filters of GET /tasks from its query string."""
    status_text = params.get("status")
    status = None
    if status_text:
        try:
            status = Status(status_text)
        except ValueError:
            valid = ", ".join(s.value for s in Status)
            raise BadRequest(f"unknown status {status_text!r}: use one of {valid}") from None
    limit = _query_int(params, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    cursor = params.get("cursor")
    before_seq = None
    if cursor:
        before_seq = _query_int(params, "cursor", 0)
        if before_seq < 1:
            raise BadRequest("cursor is not valid", field="cursor")
    return ListQuery(status, params.get("action") or None, limit, before_seq)


def _query_int(params: Any, name: str, default: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", field=name) from None
