"""Every error the API returns, as ``{"error": ...}`` JSON, mapped in this one place."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from taskq.api.responses import error_response
from taskq.errors import (
    InvalidTask,
    SchemaMismatch,
    StoreUnavailable,
    TaskConflict,
    TaskNotFound,
)

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """A client error found while reading the request, with its status code."""

    def __init__(self, message: str, status_code: int = 400, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.field = field


class Unauthenticated(BadRequest):
    """401: no valid API key."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 401)


class NotAllowed(BadRequest):
    """403: a key whose scope is too small, or a page's change without its CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 403)


async def on_bad_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    response = error_response(exc.status_code, str(exc), field=exc.field)
    if isinstance(exc, Unauthenticated):
        response.headers["www-authenticate"] = 'Bearer realm="taskq"'
    return response


async def on_invalid_task(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidTask)
    return error_response(422, str(exc), field=exc.field)


async def on_not_found(_: Request, exc: Exception) -> Response:
    return error_response(404, str(exc) or "task not found")


async def on_conflict(_: Request, exc: Exception) -> Response:
    return error_response(409, str(exc))


async def on_store_unavailable(_: Request, exc: Exception) -> Response:
    log.warning("store unavailable: %s", exc)
    return error_response(503, "store unavailable")


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route on the path; each of ours has one
        response.headers["allow"] = ", ".join(_methods_on(request))
    return response


def _methods_on(request: Request) -> list[str]:
    """The methods of the routes on the request's path; where a fixed path and a pattern
    both match (``/tasks/batch``, ``/tasks/{task_id}``), the fixed one's."""
    by_params: dict[int, set[str]] = {}
    for route in request.app.routes:
        if not isinstance(route, Route):
            continue
        match, child = route.matches(request.scope)
        if match is not Match.NONE:
            params = len(child.get("path_params", {}))
            by_params.setdefault(params, set()).update(route.methods or set())
    return sorted(by_params[min(by_params)]) if by_params else []


async def on_unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal error")


HANDLERS = {
    BadRequest: on_bad_request,
    InvalidTask: on_invalid_task,
    TaskNotFound: on_not_found,
    TaskConflict: on_conflict,
    StoreUnavailable: on_store_unavailable,
    SchemaMismatch: on_store_unavailable,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
