"""``GET /workers`` and ``GET /schedules``: who is working, and what the cron schedules of
the live workers will enqueue next. Read from the store on every call, not cached: a worker
that stops cleanly is gone from the next answer. Both reads are small (a row per worker,
the tasks workers hold, one index probe per scheduled action)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from taskq.api.responses import json_response
from taskq.api.schema import iso
from taskq.api.wire import ScheduleOut, SchedulesOut, WorkerOut, WorkersOut
from taskq.queue import Queue
from taskq.roster import Schedule, WorkerInfo


async def list_workers(request: Request) -> Response:
    """GET /workers: the live workers and the tasks each runs."""
    queue: Queue = request.app.state.queue
    return json_response(WorkersOut([worker_out(w) for w in await queue.workers()]))


async def list_schedules(request: Request) -> Response:
    """GET /schedules: each schedule's next run and last enqueued tick."""
    queue: Queue = request.app.state.queue
    return json_response(SchedulesOut([schedule_out(s) for s in await queue.schedules()]))


def worker_out(worker: WorkerInfo) -> WorkerOut:
    return WorkerOut(
        worker.id,
        worker.host,
        worker.pid,
        worker.queues,
        worker.concurrency,
        worker.running,
        iso(worker.started_at) or "",
        iso(worker.last_seen) or "",
    )


def schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut(
        schedule.action,
        schedule.expression,
        iso(schedule.next_run) or "",
        iso(schedule.last_tick),
    )
