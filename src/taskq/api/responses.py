"""JSON responses, encoded with the same codec as the store."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from taskq import codec
from taskq.api.wire import Error


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(codec.encode(body), status_code, headers, media_type="application/json")


def error_response(status_code: int, message: str, *, field: str | None = None) -> Response:
    return json_response(Error(message, field), status_code)
