"""Reading which tasks a request is about: ``GET /tasks``'s query string, and the body of a
bulk action (the same filter, as JSON). Both end in one ``TaskFilter``."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from taskq.api.errors import BadRequest
from taskq.api.schema import decode_json, moment, query_int
from taskq.api.wire import DEFAULT_LIMIT, MAX_LIMIT, BulkRequest, FilterIn
from taskq.errors import InvalidTask
from taskq.filters import TaskFilter
from taskq.task import Status

MAX_CURSOR = 2**63 - 1  # a store's sequence is a signed 64-bit integer
_VALID_STATUSES = ", ".join(s.value for s in Status)


class ListQuery(msgspec.Struct, frozen=True):
    """What ``GET /tasks`` asks for: a filter and a page."""

    task_filter: TaskFilter
    limit: int
    before_seq: int | None


def parse_list_query(params: Any) -> ListQuery:
    """Filter and page of GET /tasks from its query string; 400 naming the parameter.

    ``id``, ``status``, ``queue`` and ``action`` may each be given several times (any of them
    matches); an empty value is no condition, as an HTML form sends an unset field.
    """
    try:
        task_filter = TaskFilter(
            # an empty id is refused (check), as an empty status is: no task has it
            ids=tuple(params.getlist("id")),
            statuses=tuple(_status(text) for text in params.getlist("status")),
            queues=tuple(text for text in params.getlist("queue") if text),
            actions=tuple(text for text in params.getlist("action") if text),
            created_after=_query_moment(params, "created_after"),
            created_before=_query_moment(params, "created_before"),
            error_contains=params.get("q") or None,
        )
        task_filter.check()
    except InvalidTask as exc:
        raise BadRequest(str(exc), field=exc.field) from None
    limit = query_int(params, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    cursor = params.get("cursor")
    before_seq = None
    if cursor:
        before_seq = query_int(params, "cursor", 0)
        if not 1 <= before_seq <= MAX_CURSOR:
            raise BadRequest("cursor is not valid", field="cursor")
    return ListQuery(task_filter, limit, before_seq)


def _status(text: str) -> Status:
    try:
        return Status(text)
    except ValueError:
        raise InvalidTask(
            f"unknown status {text!r}: use one of {_VALID_STATUSES}", field="status"
        ) from None


def _query_moment(params: Any, name: str) -> float | None:
    text = params.get(name)
    return None if not text else moment(text, name)


class BulkQuery(msgspec.Struct, frozen=True):
    """What a bulk action asks for."""

    task_filter: TaskFilter
    all_tasks: bool
    limit: int


_AT = re.compile(r"^(.*) - at `\$\.?(.*)`$")


def parse_bulk(raw: bytes) -> BulkQuery:
    """A bulk action's body: 400 if it is not a JSON object, 422 naming the field at fault
    (``filter.status`` and so on)."""
    body = decode_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        request = msgspec.convert(body, BulkRequest)
    except msgspec.ValidationError as exc:
        raise _refused(exc) from None
    if request.filter is not None and request.all:  # even an empty one: the document says
        raise InvalidTask("give a filter or all, not both", field="all")
    given = request.filter or FilterIn()
    try:
        task_filter = TaskFilter(
            ids=tuple(given.id),
            statuses=tuple(given.status),
            queues=tuple(given.queue),
            actions=tuple(given.action),
            created_after=_optional_moment(given.created_after, "created_after"),
            created_before=_optional_moment(given.created_before, "created_before"),
            error_contains=given.q,
        )
        task_filter.check()
    except InvalidTask as exc:
        raise InvalidTask(str(exc), field=f"filter.{exc.field}") from None
    return BulkQuery(task_filter, request.all, request.limit)


def _optional_moment(value: str | float | None, name: str) -> float | None:
    return None if value is None else moment(value, name)


def _refused(exc: msgspec.ValidationError) -> InvalidTask:
    """A 422 in the API's words for a bulk body msgspec refused."""
    text = str(exc)
    found = _AT.match(text)
    reason, field = (found.group(1), found.group(2)) if found else (text, None)
    if field and field.startswith("filter.status") and "enum" in reason:
        return InvalidTask(f"unknown status: use one of {_VALID_STATUSES}", field="filter.status")
    if unknown := re.search(r"unknown field `(.*)`", reason):
        name = unknown.group(1)
        return InvalidTask(f"unknown field: {name}", field=f"{field}.{name}" if field else name)
    return InvalidTask(f"{field or 'body'}: {reason[0].lower()}{reason[1:]}", field=field)
