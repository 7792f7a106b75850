"""Ceiling: a Starlette POST /tasks that reads the body and answers 202, doing nothing else."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def create_task(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"id": "noop", "status": "queued"}, status_code=202)


app = Starlette(routes=[Route("/tasks", create_task, methods=["POST"])])
