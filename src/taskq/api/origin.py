"""Refusing state-changing requests that a browser sends on behalf of another site.

Any web page a developer opens can make their browser POST to ``http://localhost:8080``:
a form post, or a ``fetch`` with a ``text/plain`` body, is a "simple" cross-origin request
that needs no CORS preflight, so it reaches taskq and submits, cancels or retries tasks even
though the page never gets to read the answer. Browsers say where such a request comes from
(``Sec-Fetch-Site``, and ``Origin`` on every POST); programs (curl, httpx, requests) send
neither, so checking these headers stops the browser case without getting in their way.
The same pattern as Go's ``net/http.CrossOriginProtection``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from taskq.api.responses import error_response

log = logging.getLogger(__name__)

# Methods a browser may send cross-site without any risk to taskq: they change nothing,
# and without CORS headers (taskq sends none) the page cannot read the answer.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sec-Fetch-Site values of a request the user's own page or the user themself made
# ("none": typed in the address bar, a bookmark).
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# what the check reads of a request: the first of each
CHECKED_HEADERS = frozenset({b"sec-fetch-site", b"origin", b"host"})


class CrossOriginProtection:
    """ASGI middleware: 403 for a state-changing request a browser marks as cross-site.

    A request other than GET, HEAD or OPTIONS is refused when its ``Sec-Fetch-Site`` is
    neither ``same-origin`` nor ``none``; or, from a browser too old to send that header,
    when its ``Origin`` is present and is not the request's own origin (the scope's scheme
    and the ``Host`` header; ``Origin: null`` never matches). An ``Origin`` in
    ``allowed_origins`` always passes. A refused request reaches neither the app nor its
    body.
    """

    def __init__(self, app: ASGIApp, allowed_origins: Collection[str] = ()) -> None:
        self.app = app
        self.allowed_origins = frozenset(_allowed_origin(o) for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        fetch_site, origin, host = _browser_headers(scope)
        if self._is_cross_origin(scope["scheme"], host, fetch_site, origin):
            log.info(
                "refused cross-origin %s %s (Origin: %r, Sec-Fetch-Site: %r)",
                scope["method"],
                scope["path"],
                origin,
                fetch_site,
            )
            response = error_response(403, "cross-origin request refused")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _is_cross_origin(
        self, scheme: str, host: str | None, fetch_site: str | None, origin: str | None
    ) -> bool:
        normalized = _parse_origin(origin) if origin is not None else None
        if normalized is not None and normalized in self.allowed_origins:
            return False
        if fetch_site is not None:
            # a browser that sends it says the truth, also behind a proxy rewriting Host
            return fetch_site.lower() not in TRUSTED_FETCH_SITES
        if origin is None:
            return False  # not a browser's cross-site request: curl, httpx, a same-origin GET
        own = _normalize(scheme, host) if host else None
        return normalized is None or normalized != own


def _browser_headers(scope: Scope) -> tuple[str | None, str | None, str | None]:
    """The request's first ``Sec-Fetch-Site``, ``Origin`` and ``Host``, found in one pass
    over its raw headers (on every POST: three Headers lookups cost more than this check)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in CHECKED_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found.get(b"sec-fetch-site"), found.get(b"origin"), found.get(b"host")


def _normalize(scheme: str, netloc: str) -> str:
    """``scheme://host[:port]`` in lower case, without the scheme's default port, so that
    ``Host: Example:80`` and ``Origin: http://example`` compare equal."""
    scheme, netloc = scheme.lower(), netloc.lower()
    default = DEFAULT_PORTS.get(scheme)
    if default is not None and netloc.endswith(f":{default}"):
        netloc = netloc.removesuffix(f":{default}")
    return f"{scheme}://{netloc}"


def _parse_origin(value: str) -> str | None:
    """A serialized origin normalized, or None for ``null`` and anything not an origin."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    is_bare = not (parts.path or parts.query or parts.fragment or "@" in parts.netloc)
    if not (parts.scheme and parts.netloc and is_bare):
        return None
    return _normalize(parts.scheme, parts.netloc)


def _allowed_origin(value: str) -> str:
    origin = _parse_origin(value)
    if origin is None:
        raise ValueError(f"not an origin (scheme://host[:port]): {value!r}")
    return origin
