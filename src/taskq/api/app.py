"""The app factory: routes, error mapping, and the lifespan that opens the queue.

The app serves HTTP only. A caller that wants more in the same process (``taskq run``
adds a worker) passes it as ``alongside``: it runs inside the lifespan, on the same queue.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib.resources import files

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from taskq.api import auth, events, flow, openapi, routes, session, stats, waiting, workers
from taskq.api.errors import HANDLERS
from taskq.api.headers import SecurityHeaders
from taskq.api.metrics import MeasureRequests, Metrics, get_metrics
from taskq.api.origin import CrossOriginProtection
from taskq.config import Settings
from taskq.dashboard.routes import ROUTES as DASHBOARD
from taskq.queue import Queue
from taskq.tracing import Tracing, from_settings

log = logging.getLogger(__name__)
# Swagger UI 5 (the first to read OpenAPI 3.1), shipped in the swagger-ui-py package: the
# docs page fetches nothing from the internet
SWAGGER_UI = str(files("swagger_ui") / "static")


Alongside = Callable[[Queue], contextlib.AbstractAsyncContextManager[None]]
"""Something run for the app's lifetime with its open queue (entered after the queue opens,
exited before it closes)."""


def cors(origins: list[str]) -> list[Middleware]:
    """CORS for the pages of ``origins`` (none unless configured): they may send a key."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=[
                "authorization",
                "content-type",
                "idempotency-key",
                "traceparent",
                "tracestate",
            ],
            expose_headers=["location"],
            max_age=600,
        )
    ]


def create_app(
    settings: Settings, *, alongside: Alongside | None = None, tracing: Tracing | None = None
) -> Starlette:
    """The taskq HTTP app on ``settings.database``; its lifespan opens and closes the store.
    ``tracing``: the settings' own (taskq/tracing.py) unless given."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        queue = Queue.from_settings(settings)
        await queue.open()
        app.state.queue = queue
        app.state.stats = stats.StatsAnswers(queue)
        app.state.event_streams = events.EventStreams(queue, app.state.stats)
        app.state.waiters = waiting.Waiters(queue)
        beside: contextlib.AbstractAsyncContextManager[None] = (
            alongside(queue) if alongside else contextlib.nullcontext()
        )
        try:
            async with beside:
                yield
        finally:
            await app.state.event_streams.close()
            await app.state.waiters.close()
            await queue.close()

    app = Starlette(
        routes=auth.guard(
            [
                Route("/tasks", routes.submit_task, methods=["POST"]),
                Route("/tasks", routes.list_tasks, methods=["GET"]),
                # before /tasks/{task_id}…: "batch" and "bulk" are no task ids
                Route("/tasks/batch", routes.submit_batch, methods=["POST"]),
                Route("/tasks/bulk/retry", routes.bulk_retry, methods=["POST"]),
                Route("/tasks/bulk/cancel", routes.bulk_cancel, methods=["POST"]),
                Route("/tasks/bulk/delete", routes.bulk_delete, methods=["POST"]),
                Route("/tasks/{task_id}", routes.get_task, methods=["GET"]),
                Route("/tasks/{task_id}", routes.delete_task, methods=["DELETE"]),
                Route("/tasks/{task_id}/cancel", routes.cancel_task, methods=["POST"]),
                Route("/tasks/{task_id}/retry", routes.retry_task, methods=["POST"]),
                Route("/queues", stats.list_queues, methods=["GET"]),
                Route("/queues/{name}", flow.patch_queue, methods=["PATCH"]),
                Route("/queues/{name}/pause", flow.pause_queue, methods=["POST"]),
                Route("/queues/{name}/resume", flow.resume_queue, methods=["POST"]),
                Route("/stats", stats.store_stats, methods=["GET"]),
                Route("/workers", workers.list_workers, methods=["GET"]),
                Route("/schedules", workers.list_schedules, methods=["GET"]),
                Route("/metrics", get_metrics, methods=["GET"]),
                Route("/events", events.stream_events, methods=["GET"]),
                Route("/session", session.get_session, methods=["GET"]),
                Route("/session", session.sign_in, methods=["POST"]),
                Route("/session", session.sign_out, methods=["DELETE"]),
                Route("/healthz", routes.healthz, methods=["GET"]),
                Route("/readyz", routes.readyz, methods=["GET"]),
                Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
                Route("/docs", openapi.docs, methods=["GET"]),
                Route("/docs/start.js", openapi.docs_script, methods=["GET"]),
                Mount("/docs/static", StaticFiles(directory=SWAGGER_UI)),
                *DASHBOARD,
            ]
        ),
        middleware=[
            Middleware(MeasureRequests),  # outermost: times every answer, refusals too
            Middleware(SecurityHeaders),
            *cors(settings.cors_origins),
            Middleware(CrossOriginProtection, allowed_origins=settings.cors_origins),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.openapi = openapi.build(app.routes)
    app.state.metrics = Metrics()  # its counters count from now
    app.state.tracing = from_settings(settings) if tracing is None else tracing
    return app
