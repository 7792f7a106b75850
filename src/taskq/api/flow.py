"""Flow control over HTTP (taskq/flow.py): pause, resume, and set a queue's concurrency.
The queue need not have tasks: settings exist before them."""

from __future__ import annotations

from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from taskq.api.body import read_body
from taskq.api.errors import BadRequest
from taskq.api.responses import json_response
from taskq.api.schema import decode_json, iso
from taskq.api.wire import QueuePatch, QueueSettingsOut
from taskq.errors import InvalidTask
from taskq.flow import KEEP, Keep, QueueSettings
from taskq.queue import Queue


async def pause_queue(request: Request) -> Response:
    """POST /queues/{name}/pause: start none of its tasks from the next claim on."""
    return await _update(request, paused=True)


async def resume_queue(request: Request) -> Response:
    """POST /queues/{name}/resume: start its tasks again (idle workers are woken)."""
    return await _update(request, paused=False)


async def patch_queue(request: Request) -> Response:
    """PATCH /queues/{name}: change ``paused``, ``concurrency``, ``rate_limit``,
    ``key_concurrency``."""
    settings = request.app.state.settings
    body = decode_json(await read_body(request, settings.max_body_bytes, settings.body_timeout_s))
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        patch = msgspec.convert(body, QueuePatch)
    except msgspec.ValidationError as exc:
        raise _refused(exc) from None
    given = (patch.paused, patch.concurrency, patch.rate_limit, patch.key_concurrency)
    if all(value is msgspec.UNSET for value in given):
        raise InvalidTask(
            "give paused, concurrency, rate_limit, key_concurrency or several", field="body"
        )
    return await _update(
        request,
        paused=None if patch.paused is msgspec.UNSET else patch.paused,
        concurrency=KEEP if patch.concurrency is msgspec.UNSET else patch.concurrency,
        rate=KEEP if patch.rate_limit is msgspec.UNSET else patch.rate_limit,
        key_concurrency=KEEP if patch.key_concurrency is msgspec.UNSET else patch.key_concurrency,
    )


async def _update(
    request: Request,
    *,
    paused: bool | None = None,
    concurrency: int | Literal[Keep.KEEP] | None = KEEP,
    rate: str | Literal[Keep.KEEP] | None = KEEP,
    key_concurrency: int | Literal[Keep.KEEP] | None = KEEP,
) -> Response:
    queue: Queue = request.app.state.queue
    settings = await queue.update_queue(
        request.path_params["name"],
        paused=paused,
        concurrency=concurrency,
        rate=rate,
        key_concurrency=key_concurrency,
    )
    return json_response(settings_out(settings))


def settings_out(settings: QueueSettings) -> QueueSettingsOut:
    return QueueSettingsOut(
        settings.name,
        settings.paused,
        settings.concurrency,
        iso(settings.updated_at),
        None if settings.rate is None else str(settings.rate),
        settings.key_concurrency,
    )


def _refused(exc: msgspec.ValidationError) -> InvalidTask:
    """A 422 naming the field of a PATCH body msgspec refused."""
    text = str(exc)
    if "unknown field `" in text:
        name = text.split("unknown field `", 1)[1].split("`", 1)[0]
        return InvalidTask(f"unknown field: {name}", field=name)
    for name, what in (
        ("concurrency", "concurrency must be an integer from 1, or null"),
        ("rate_limit", "rate_limit must be N/UNIT (100/s, 10/min, 5/10s, 1000/h, 20/d), or null"),
        ("key_concurrency", "key_concurrency must be an integer from 1, or null"),
        ("paused", "paused must be true or false"),
    ):
        if f"$.{name}`" in text:
            return InvalidTask(what, field=name)
    return InvalidTask(text, field="body")
