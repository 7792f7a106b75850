"""Security headers on every answer, and a strict Content-Security-Policy on every page.

The API answers JSON, which a browser never runs; its pages (``/docs``, later the
dashboard) load only what the service itself serves: no script or style from elsewhere, no
inline script, no framing by another site (clickjacking), and no referrer sent away.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERY_ANSWER = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
# Swagger UI sets style attributes and draws icons from data: URIs; it runs no inline
# script once its start-up lives in a file of its own (openapi.DOCS_SCRIPT).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
EVERY_PAGE = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",  # frame-ancestors, for browsers that predate it
}


RawHeaders = list[tuple[bytes, bytes]]


def _raw(headers: dict[str, str]) -> RawHeaders:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


# encoded once: this runs on every answer, and Starlette's MutableHeaders re-encodes and
# re-scans the list on each call
RAW_EVERY_ANSWER = _raw(EVERY_ANSWER)
RAW_EVERY_PAGE = _raw(EVERY_PAGE)
ANSWER_NAMES = frozenset(name for name, _ in RAW_EVERY_ANSWER)


def with_security_headers(headers: RawHeaders) -> RawHeaders:
    """An answer's raw ASGI headers with EVERY_ANSWER in place of any the app set, and
    EVERY_PAGE on HTML that does not set its own."""
    out = [header for header in headers if header[0] not in ANSWER_NAMES]
    out += RAW_EVERY_ANSWER
    if any(name == b"content-type" and value.startswith(b"text/html") for name, value in out):
        present = {name for name, _ in out}
        out += [header for header in RAW_EVERY_PAGE if header[0] not in present]
    return out


class SecurityHeaders:
    """ASGI middleware adding EVERY_ANSWER to every answer, and EVERY_PAGE to HTML ones
    (a page may set a stricter one of its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_with_headers)
