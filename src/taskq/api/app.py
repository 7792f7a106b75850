"""The app factory: routes, error mapping, and the lifespan that opens the queue.

With ``run_worker`` the same process also consumes tasks (``taskq run``); the API then
wakes the in-process worker the moment a task commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import swagger_ui_bundle
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from taskq.api import openapi, routes
from taskq.api.errors import HANDLERS
from taskq.api.origin import CrossOriginProtection
from taskq.config import Settings
from taskq.queue import Queue
from taskq.worker import Worker

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, run_worker: bool = False) -> Starlette:
    """The taskq HTTP app on ``settings.database``; its lifespan opens and closes the store."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        queue = Queue.from_settings(settings)
        await queue.open()
        app.state.queue = queue
        worker = Worker.from_settings(queue, settings) if run_worker else None
        consuming = asyncio.create_task(worker.run()) if worker else None
        try:
            yield
        finally:
            if worker and consuming:
                worker.stop()
                await consuming
            await queue.close()
            if worker:
                worker.exit_if_stuck()

    app = Starlette(
        routes=[
            Route("/tasks", routes.submit_task, methods=["POST"]),
            Route("/tasks", routes.list_tasks, methods=["GET"]),
            Route("/tasks/{task_id}", routes.get_task, methods=["GET"]),
            Route("/tasks/{task_id}/cancel", routes.cancel_task, methods=["POST"]),
            Route("/tasks/{task_id}/retry", routes.retry_task, methods=["POST"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
            Route("/docs", openapi.docs, methods=["GET"]),
            Mount("/docs/static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path)),
        ],
        middleware=[Middleware(CrossOriginProtection)],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.openapi = openapi.build(app.routes)
    return app
