"""Security headers on every answer, and a strict Content-Security-Policy on every page.

The API answers JSON, which a browser never runs; its pages (``/docs``, later the
dashboard) load only what the service itself serves: no script or style from elsewhere, no
inline script, no framing by another site (clickjacking), and no referrer sent away.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
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


class SecurityHeaders:
    """ASGI middleware adding EVERY_ANSWER to every answer, and EVERY_PAGE to HTML ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(EVERY_ANSWER)
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in EVERY_PAGE.items():
                        headers.setdefault(name, value)  # a page may set a stricter one
            await send(message)

        await self.app(scope, receive, send_with_headers)
