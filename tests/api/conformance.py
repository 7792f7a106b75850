"""Every answer the API gives in a test is checked against ``/openapi.json``: its status must
be documented for that route, and its JSON body must match the documented schema."""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator

ERROR = "#/components/schemas/Error"


class Conformance:
    """Checks responses against one OpenAPI document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in spec["paths"]
        ]

    def _template(self, path: str) -> str | None:
        return next((tpl for pattern, tpl in self._routes if pattern.match(path)), None)

    def check(self, method: str, path: str, status: int, body: bytes, media: str) -> None:
        template = self._template(path)
        if template is None:
            if path.startswith("/docs/static/"):
                return  # files of the docs page, not API operations
            assert status == 404, f"{method} {path} answered {status} but is not documented"
            self._matches(f"{method} {path}", {"$ref": ERROR}, body, media)
            return
        head = method == "HEAD"  # answered like GET, without a body
        operation = self.spec["paths"][template].get("get" if head else method.lower())
        if operation is None:
            assert status == 405, f"{method} {template} answered {status} but is not documented"
            self._matches(f"{method} {path}", {"$ref": ERROR}, body, media)
            return
        documented = operation["responses"].get(str(status))
        assert documented is not None, (
            f"{method} {template} answered {status}, documented: {sorted(operation['responses'])}"
        )
        content = documented.get("content", {})
        if content and not head:  # the media type the document names for this answer
            assert any(media.startswith(m) for m in content), (
                f"{method} {template} {status} answered {media}, documented: {sorted(content)}"
            )
        schema = content.get("application/json", {}).get("schema")
        if schema is not None and not head:
            self._matches(f"{method} {template} {status}", schema, body, media)

    def _matches(self, what: str, schema: dict[str, Any], body: bytes, media: str) -> None:
        assert media.startswith("application/json"), f"{what}: {media}"
        validator = Draft202012Validator({**schema, "components": self.spec["components"]})
        errors = sorted(validator.iter_errors(httpx.Response(200, content=body).json()), key=str)
        assert not errors, f"{what} does not match its schema: {errors[0]}"

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        request = response.request
        self.check(
            request.method,
            request.url.path,
            response.status_code,
            response.content,
            response.headers.get("content-type", ""),
        )
