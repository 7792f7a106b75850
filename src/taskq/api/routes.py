"""The HTTP endpoints. Each reads the request, calls the core, and shapes the answer."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from taskq.api.body import read_body
from taskq.api.filters import BulkQuery, parse_bulk, parse_list_query
from taskq.api.responses import json_response
from taskq.api.schema import parse_submission, task_out
from taskq.api.wire import Accepted, BulkOut, Deleted, Health, TaskPage
from taskq.errors import StoreUnavailable, TaskNotFound
from taskq.queue import Queue


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
    (task,) = await _queue(request).enqueue_many([new])
    created = task.id == new.id
    return json_response(
        Accepted(task.id, task.status),
        202 if created else 200,
        {"Location": f"/tasks/{task.id}"},
    )


async def list_tasks(request: Request) -> Response:
    """GET /tasks: newest first, filtered, one page."""
    query = parse_list_query(request.query_params)
    tasks = await _queue(request).list_tasks(
        query.task_filter, limit=query.limit, before_seq=query.before_seq
    )
    next_cursor = str(tasks[-1].seq) if len(tasks) == query.limit else None
    return json_response(TaskPage([task_out(t) for t in tasks], len(tasks), next_cursor))


async def get_task(request: Request) -> Response:
    """GET /tasks/{id}."""
    task = await _queue(request).get(request.path_params["task_id"])
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
