"""Reading a request body within the service's limits: its size and the time it takes."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import ClientDisconnect, Request

from taskq.api.errors import BadRequest

log = logging.getLogger(__name__)


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The request body, refusing one over ``limit`` bytes (413, before reading it all) and
    one not all received within ``timeout_s`` (408)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"body larger than {limit} bytes", 413)
    try:
        # one deadline for the whole body: a client sending a byte now and then would
        # reset a per-read timeout forever
        async with asyncio.timeout(timeout_s):
            return await _read(request, limit)
    except TimeoutError:
        raise BadRequest("request body not received in time", 408) from None
    except ClientDisconnect:
        # nobody is left to answer; an ordinary event, not a server error
        log.debug("client disconnected before sending the whole body")
        raise BadRequest("client disconnected before sending the whole body") from None


async def _read(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"body larger than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
