"""The requests each verb of the client sends, and how their answers are read.

No I/O here: the sync and the async client both send these ``Call``s and read the answers
with ``read``, so the two cannot disagree on a path, a parameter or an error.
"""

from __future__ import annotations

import logging
import random
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from taskq.api.wire import MAX_BATCH, Error
from taskq.client.errors import ClientError, ConnectionFailed, error_for
from taskq.client.wire import Accepted, Batch, Queues, Stats, Task, TaskPage

T = TypeVar("T")
log = logging.getLogger("taskq.client")

BATCH_SIZE = MAX_BATCH  # the most tasks one POST /tasks/batch takes (1000)
MAX_WAIT_S = 60.0  # the longest ?wait= the service holds an answer
POLL_S = 0.5  # how often wait() looks again when answered at once (a service without ?wait=)
BACKOFF_S = 0.25  # before the first retry; doubled before each next one, with jitter
MAX_BACKOFF_S = 4.0

JSON = {"Content-Type": "application/json"}
_encode = msgspec.json.Encoder().encode
_error = msgspec.json.Decoder(Error)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read a successful answer (status and body) into a ``T``."""

    method: str
    path: str
    decode: Callable[[int, bytes], T]
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Safe to send again when the connection broke after the request may have arrived: a
    # read, or a submission carrying an idempotency key.
    repeatable: bool = False
    # How long the service may hold the answer on purpose (added to the read timeout).
    wait_s: float = 0.0
    # Added to the index in a batch error's field (``tasks[3].action``): the chunk's offset.
    offset: int = 0


def _decoder(kind: type[T]) -> Callable[[int, bytes], T]:
    decoder = msgspec.json.Decoder(kind)
    return lambda _status, content: decoder.decode(content)


_task = _decoder(Task)
_page = _decoder(TaskPage)
_accepted = _decoder(Accepted)
_stats = _decoder(Stats)
_queues = _decoder(Queues)
_batch = msgspec.json.Decoder(Batch)


def _submitted(status_code: int, content: bytes) -> Accepted:
    # 202: stored now; 200: the caller's idempotency key named a task stored before
    return msgspec.structs.replace(_accepted(status_code, content), created=status_code == 202)


def _submitted_once(status_code: int, content: bytes) -> Accepted:
    # Under a fresh key of our own a 200 answers an earlier try of this very call, which
    # stored the task: this call created it all the same.
    return msgspec.structs.replace(_accepted(status_code, content), created=True)


def _retried(_status: int, content: bytes) -> Accepted:
    # the task queued again: nothing new was stored
    return msgspec.structs.replace(_accepted(_status, content), created=False)


def read(call: Call[T], status_code: int, content: bytes) -> T:
    """The answer to ``call`` as a ``T``; the ``ClientError`` for an error answer."""
    if status_code < 400:
        return call.decode(status_code, content)
    raise error_from(status_code, content, call.offset)


def error_from(status_code: int, content: bytes, offset: int = 0) -> ClientError:
    """The exception for an error answer: the API's ``{"error", "field"}``, or the start of
    whatever else came (a proxy's page)."""
    try:
        answer = _error.decode(content)
    except msgspec.DecodeError:
        text = content.decode("utf-8", "replace").strip()[:200]
        return error_for(status_code, text or f"HTTP {status_code}", None)
    error, where = answer.error, answer.field
    if offset:  # the index in the caller's list, not in this chunk of it
        error, where = _shift(error, offset), where and _shift(where, offset)
    return error_for(status_code, error, where)


def _shift(text: str, offset: int) -> str:
    return re.sub(r"^tasks\[(\d+)\]", lambda m: f"tasks[{int(m[1]) + offset}]", text)


def backoff_s(retry: int) -> float:
    """How long to wait before retry number ``retry`` (0 for the first): doubling, jittered."""
    return min(MAX_BACKOFF_S, BACKOFF_S * 2.0**retry) * random.uniform(0.5, 1.0)


def _task_path(task_id: str, tail: str = "") -> str:
    return f"/tasks/{quote(task_id, safe='')}{tail}"


def _moment(value: datetime | str | float) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _fields(given: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in given.items() if value is not None}


def submit(action: str, options: Mapping[str, Any], idempotency_key: str | None) -> Call[Accepted]:
    """``POST /tasks``, under the caller's idempotency key or a fresh one of its own."""
    key = idempotency_key or str(uuid.uuid4())
    return Call(
        "POST",
        "/tasks",
        # with a unique key, a 200 may name the key's holder: no longer "this very call"
        _submitted if idempotency_key or options.get("unique_key") else _submitted_once,
        body=_encode({"action": action, **_fields(options)}),
        headers={**JSON, "Idempotency-Key": key},
        repeatable=True,
    )


def submit_batches(items: Iterable[Mapping[str, Any]]) -> list[Call[list[Accepted]]]:
    """``POST /tasks/batch`` for every 1000 items; each item keeps its ``idempotency_key``
    or gets a fresh one (``batch_keys``)."""
    given = list(items)
    # the items whose "created" the service's answer tells (see ``_submitted_once``)
    by_caller = [bool(item.get("idempotency_key") or item.get("unique_key")) for item in given]
    keys = batch_keys(len(given))
    tasks = [
        {**_fields(item), "idempotency_key": item.get("idempotency_key") or key}
        for item, key in zip(given, keys, strict=True)
    ]
    return [
        Call(
            "POST",
            "/tasks/batch",
            _batch_decoder(by_caller[start : start + BATCH_SIZE]),
            body=_encode({"tasks": tasks[start : start + BATCH_SIZE]}),
            headers=JSON,
            repeatable=True,
            offset=start,
        )
        for start in range(0, len(tasks), BATCH_SIZE)
    ]


def batch_keys(n: int) -> list[str]:
    """Fresh idempotency keys for ``n`` tasks submitted together: one random UUID for the
    call, then each task's position in it (zero-padded, so they sort in that order).

    Unique as a random key per task is, but side by side in the store's unique index:
    random keys each land on a page of their own, to be read and written (SQLite, 20,000
    tasks in calls of 1,000: 34k tasks/s with random keys, 44k with a prefix per call).
    """
    prefix = uuid.uuid4()
    return [f"{prefix}-{index:07d}" for index in range(n)]


def _batch_decoder(by_caller: list[bool]) -> Callable[[int, bytes], list[Accepted]]:
    """Reads a batch's answer; a task under a key of our own was created by this call
    (see ``_submitted_once``)."""

    def decode(_status: int, content: bytes) -> list[Accepted]:
        answered = _batch.decode(content).tasks
        return [
            accepted if keyed else msgspec.structs.replace(accepted, created=True)
            for accepted, keyed in zip(answered, by_caller, strict=False)
        ]

    return decode


def get(task_id: str, wait_s: float | None = None) -> Call[Task]:
    """``GET /tasks/{id}``; with ``wait_s`` (at most 60), answered once the task is
    finished or after that long."""
    if wait_s is None:
        return Call("GET", _task_path(task_id), _task, repeatable=True)
    wait_s = min(wait_s, MAX_WAIT_S)
    params = (("wait", f"{wait_s:.3f}".rstrip("0").rstrip(".")),)
    return Call("GET", _task_path(task_id), _task, params, repeatable=True, wait_s=wait_s)


def list_page(filters: list[tuple[str, str]], limit: int, cursor: str | None) -> Call[TaskPage]:
    """One page of ``GET /tasks``."""
    params = [*filters, ("limit", str(limit))]
    if cursor is not None:
        params.append(("cursor", cursor))
    return Call("GET", "/tasks", _page, tuple(params), repeatable=True)


def list_filters(
    *,
    status: str | Iterable[str] | None,
    queue: str | Iterable[str] | None,
    action: str | Iterable[str] | None,
    created_after: datetime | str | float | None,
    created_before: datetime | str | float | None,
    q: str | None,
) -> list[tuple[str, str]]:
    """The query parameters of ``GET /tasks``: each of ``status``, ``queue``, ``action`` is
    one value or several (any of them matches)."""
    params: list[tuple[str, str]] = []
    for name, given in (("status", status), ("queue", queue), ("action", action)):
        if given is not None:
            values = [given] if isinstance(given, str) else list(given)
            params += [(name, str(value)) for value in values]
    for name, moment in (("created_after", created_after), ("created_before", created_before)):
        if moment is not None:
            params.append((name, _moment(moment)))
    if q is not None:
        params.append(("q", q))
    return params


def cancel(task_id: str) -> Call[Task]:
    """``POST /tasks/{id}/cancel``."""
    return Call("POST", _task_path(task_id, "/cancel"), _task)


def retry(task_id: str) -> Call[Accepted]:
    """``POST /tasks/{id}/retry``."""
    return Call("POST", _task_path(task_id, "/retry"), _retried)


def stats() -> Call[Stats]:
    """``GET /stats``."""
    return Call("GET", "/stats", _stats, repeatable=True)


def queues() -> Call[Queues]:
    """``GET /queues``."""
    return Call("GET", "/queues", _queues, repeatable=True)


def headers(api_key: str | None) -> dict[str, str]:
    """The headers of every request: the key, once, in the client's connection pool."""
    from taskq import __version__

    sent = {"User-Agent": f"taskq-client/{__version__}", "Accept": "application/json"}
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    return sent


def timeout(call: Call[Any], timeout_s: float) -> httpx.Timeout:
    """``timeout_s`` for each step of a request, and as long again as a wait may hold it."""
    return httpx.Timeout(timeout_s, read=timeout_s + call.wait_s)


# Raised before the request left: sending it again cannot do anything twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def may_retry(call: Call[Any], error: httpx.TransportError) -> bool:
    """Whether ``call`` may be sent again after ``error``: always when it never left, and
    when it is repeatable (a read, a keyed submission) if the answer was lost."""
    return isinstance(error, _NOT_SENT) or call.repeatable


def connection_failed(call: Call[Any], error: httpx.TransportError, tries: int) -> ConnectionFailed:
    said = str(error) or type(error).__name__
    return ConnectionFailed(f"{call.method} {call.path}: {said} (tried {tries} times)")


def retrying(call: Call[Any], why: str, retry: int, retries: int, pause_s: float) -> None:
    log.info(
        "%s %s: %s; retry %d of %d in %.2f s",
        call.method,
        call.path,
        why,
        retry + 1,
        retries,
        pause_s,
    )


def answers_unavailable(status_code: int) -> bool:
    """503: the service is up but its store is not, for now; worth another try."""
    return status_code == 503
