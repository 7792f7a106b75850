"""The HTTP endpoints. Each reads the request, calls the core, and shapes the answer."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from taskq.api.body import read_body
from taskq.api.errors import BadRequest
from taskq.api.filters import BulkQuery, parse_bulk, parse_list_query
from taskq.api.responses import json_response
from taskq.api.schema import decode_json, parse_submission, submission_task, task_out
from taskq.api.waiting import parse_wait, wait_for_end
from taskq.api.wire import (
    MAX_BATCH,
    MAX_IDEMPOTENCY_KEY,
    Accepted,
    BatchAccepted,
    BatchOut,
    BulkOut,
    Deleted,
    Health,
    TaskPage,
)
from taskq.errors import InvalidTask, StoreUnavailable, TaskNotFound
from taskq.queue import KeyReused, Queue, storable
from taskq.task import NewTask
from taskq.tracing import Tracing


def _queue(request: Request) -> Queue:
    queue: Queue = request.app.state.queue
    return queue


async def submit_task(request: Request) -> Response:
    """POST /tasks: accept a task; 202 once it is committed.

    With an ``Idempotency-Key`` header already used for the same body: 200 and the
    original task; used for another body: 409.
    """
    raw = await read_body(
        request,
        request.app.state.settings.max_body_bytes,
        request.app.state.settings.body_timeout_s,
    )
    new = parse_submission(raw, idempotency_key=request.headers.get("idempotency-key"))
    tracing: Tracing = request.app.state.tracing
    with tracing.sending([new], request.headers) as sending:
        (task,) = await _queue(request).enqueue_many(sending.tasks)
        sending.stored([task])
    created = task.id == new.id
    return json_response(
        Accepted(task.id, task.status),
        202 if created else 200,
        {"Location": f"/tasks/{task.id}"},
    )


async def submit_batch(request: Request) -> Response:
    """POST /tasks/batch: accept tasks together, all in one commit or none (202); each
    item as POST /tasks takes it, with its own idempotency key."""
    settings = request.app.state.settings
    news = parse_batch(await read_body(request, settings.max_body_bytes, settings.body_timeout_s))
    tracing: Tracing = request.app.state.tracing
    try:
        with tracing.sending(news, request.headers, batch=True) as sending:
            stored = await _queue(request).enqueue_many(sending.tasks)
            sending.stored(stored)
    except KeyReused as exc:
        at = f"tasks[{exc.index}]"
        raise BadRequest(f"{at}: {exc}", 409, field=f"{at}.idempotency_key") from None
    except InvalidTask as exc:  # a rule of the store (task.validate): find whose
        raise _at_fault(news, exc) from None
    return json_response(
        BatchOut(
            [
                BatchAccepted(task.id, task.status, task.id == new.id)
                for new, task in zip(news, stored, strict=True)
            ]
        ),
        202,
    )


def parse_batch(raw: bytes) -> list[NewTask]:
    """The tasks of a POST /tasks/batch body, each read as POST /tasks reads its body (and
    its ``idempotency_key`` as the header); 422 naming the item at fault."""
    body = decode_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if unknown := sorted(set(body) - {"tasks"}):
        raise InvalidTask(f"unknown field: {unknown[0]}", field=unknown[0])
    items = body.get("tasks")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise InvalidTask(f"tasks must be a list of 1 to {MAX_BATCH} tasks", field="tasks")
    return [_batch_item(index, item) for index, item in enumerate(items)]


def _batch_item(index: int, item: Any) -> NewTask:
    try:
        if not isinstance(item, dict):
            raise InvalidTask("a task must be a JSON object")
        key = item.pop("idempotency_key", None)
        if key is not None and not (isinstance(key, str) and 0 < len(key) <= MAX_IDEMPOTENCY_KEY):
            raise InvalidTask(
                f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
                field="idempotency_key",
            )
        # the single task's reading, rules and fingerprint, on the item's own JSON object
        return submission_task(item, idempotency_key=key)
    except (BadRequest, InvalidTask) as exc:
        raise _indexed(index, exc) from None


def _indexed(index: int, exc: BadRequest | InvalidTask) -> InvalidTask:
    at = f"tasks[{index}]"
    return InvalidTask(f"{at}: {exc}", field=f"{at}.{exc.field}" if exc.field else at)


def _at_fault(news: list[NewTask], exc: InvalidTask) -> InvalidTask:
    for index, new in enumerate(news):
        try:
            storable(new)
        except InvalidTask as found:
            return _indexed(index, found)
    return exc


async def list_tasks(request: Request) -> Response:
    """GET /tasks: newest first, filtered, one page."""
    query = parse_list_query(request.query_params)
    tasks = await _queue(request).list_tasks(
        query.task_filter, limit=query.limit, before_seq=query.before_seq
    )
    next_cursor = str(tasks[-1].seq) if len(tasks) == query.limit else None
    return json_response(TaskPage([task_out(t) for t in tasks], len(tasks), next_cursor))


async def get_task(request: Request) -> Response:
    """GET /tasks/{id}; with ``?wait=S``, once the task is finished or after S seconds."""
    task_id = request.path_params["task_id"]
    wait_s = parse_wait(request.query_params)
    if wait_s is None:
        task = await _queue(request).get(task_id)
    else:
        task = await wait_for_end(request.app.state.waiters, _queue(request), task_id, wait_s)
    if task is None:
        raise TaskNotFound("task not found")
    return json_response(task_out(task))


async def cancel_task(request: Request) -> Response:
    """POST /tasks/{id}/cancel: 200 once a queued task is cancelled; 202 while a running
    one is being stopped; 409 for a finished task."""
    task = await _queue(request).cancel(request.path_params["task_id"])
    return json_response(task_out(task), 200 if task.status.is_terminal else 202)


async def retry_task(request: Request) -> Response:
    """POST /tasks/{id}/retry: queue a failed or cancelled task again (202)."""
    task = await _queue(request).retry(request.path_params["task_id"])
    return json_response(Accepted(task.id, task.status), 202, {"Location": f"/tasks/{task.id}"})


async def delete_task(request: Request) -> Response:
    """DELETE /tasks/{id}: delete a finished task (200); 409 for a queued or running one."""
    task = await _queue(request).delete(request.path_params["task_id"])
    return json_response(Deleted(task.id, deleted=True))


async def _bulk_query(request: Request) -> BulkQuery:
    settings = request.app.state.settings
    return parse_bulk(await read_body(request, settings.max_body_bytes, settings.body_timeout_s))


async def bulk_retry(request: Request) -> Response:
    """POST /tasks/bulk/retry: queue the filter's failed and cancelled tasks again."""
    query = await _bulk_query(request)
    done = await _queue(request).retry_matching(
        query.task_filter, limit=query.limit, all_tasks=query.all_tasks
    )
    return json_response(BulkOut(done.changed, done.more))


async def bulk_cancel(request: Request) -> Response:
    """POST /tasks/bulk/cancel: cancel the filter's queued tasks, stop its running ones."""
    query = await _bulk_query(request)
    done = await _queue(request).cancel_matching(
        query.task_filter, limit=query.limit, all_tasks=query.all_tasks
    )
    return json_response(BulkOut(done.changed, done.more))


async def bulk_delete(request: Request) -> Response:
    """POST /tasks/bulk/delete: delete the filter's finished tasks."""
    query = await _bulk_query(request)
    done = await _queue(request).delete_matching(
        query.task_filter, limit=query.limit, all_tasks=query.all_tasks
    )
    return json_response(BulkOut(done.changed, done.more))


async def healthz(_: Request) -> Response:
    """Liveness: the process answers."""
    return json_response(Health("ok"))


# Under the 1 s a Kubernetes probe waits by default: the probe hears our 503 and its
# reason is logged, rather than the probe giving up on its own.
READY_TIMEOUT_S = 0.8


async def readyz(request: Request) -> Response:
    """Readiness: the store answers within READY_TIMEOUT_S (503 otherwise, through the
    error mapping)."""
    ping = asyncio.create_task(_queue(request).ping())
    try:
        await asyncio.wait([ping], timeout=READY_TIMEOUT_S)
    finally:
        # Cancelled, not awaited: a ping stuck on a silent server cleans up for seconds
        # (psycopg cancels the query on the server first), which asyncio.timeout would await.
        ping.cancel()
    if not ping.done():
        raise StoreUnavailable(f"the store did not answer within {READY_TIMEOUT_S} s")
    ping.result()
    return json_response(Health("ready"))
