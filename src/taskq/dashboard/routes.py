"""The dashboard's routes: its page and the files the page loads, all shipped in the
package (nothing is fetched from elsewhere at run time)."""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = files("taskq.dashboard") / "static"
# Stricter than the docs page's: no inline style either (the scripts set styles through
# the DOM, which a policy does not restrict).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)


async def page(_: Request) -> Response:
    """GET /dashboard: the one page; the scripts route within it (``#/tasks``…)."""
    return FileResponse(
        str(STATIC / "index.html"),
        headers={"content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-cache"},
    )


ROUTES: list[BaseRoute] = [
    Route("/dashboard", page, methods=["GET"], include_in_schema=False),
    Mount("/dashboard/static", StaticFiles(directory=str(STATIC))),
]
