"""Reading a request body within the service's limits."""

from __future__ import annotations

from starlette.requests import Request

from taskq.api.errors import BadRequest


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"body larger than {limit} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"body larger than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
