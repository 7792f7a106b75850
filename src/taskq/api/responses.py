"""JSON responses, encoded with the same codec as the store."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from taskq import codec


def json_response(
    body: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(codec.encode(body), status_code, headers, media_type="application/json")


def error_response(status_code: int, message: str, *, field: str | None = None) -> Response:
    body: dict[str, str] = {"error": message}
    if field is not None:
        body["field"] = field
    return json_response(body, status_code)
