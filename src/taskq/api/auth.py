"""Who is asking, and may they: API keys on every endpoint that needs one.

A request shows a key as ``Authorization: Bearer <key>``, or, from the dashboard, in the
session cookie set at sign-in (``api/session.py``). Each route needs the scope its OpenAPI
operation names (``Operation.scope``); the probes and the docs need none.

While the store holds no key, requests need none either, but only on a service that listens
on loopback (the tutorial's walkthrough works as written) or that was told
``--allow-anonymous``: anyone else who reaches it could steer it. Once a key exists, every
request needs one.

A request that a session cookie authenticates must also carry the page's CSRF token
(``X-CSRF-Token``) to change anything: a cookie is sent by the browser on its own, a header
only by the page's scripts. Errors never repeat the key that was sent.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from taskq.api.errors import NotAllowed, Unauthenticated
from taskq.api.openapi import OPERATIONS
from taskq.keys import Scope, csrf_token
from taskq.queue import Queue

SESSION_COOKIE = "taskq_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOW_TO_CREATE = "create one with `taskq keys create --name NAME --scope admin`"


class Principal(msgspec.Struct, frozen=True):
    """Who a request comes from: ``via`` "key" (the header), "session" (the dashboard's
    cookie; ``csrf`` is its token) or "anonymous"; ``name`` the key's."""

    scope: Scope
    via: str
    name: str | None = None
    csrf: str | None = None


@functools.cache  # asked on every request while no key exists; the host is a setting
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def anonymous_allowed(host: str, allow_anonymous: bool) -> bool:
    """Whether, with no key stored, a service listening on ``host`` serves anyone."""
    return allow_anonymous or is_loopback(host)


async def identify(request: Request) -> Principal:
    """Who sent ``request``; Unauthenticated if nobody it may be."""
    queue: Queue = request.app.state.queue
    header = request.headers.get("authorization")
    if header is not None:
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
        key = await queue.keys.verify(secret.strip())
        if key is None:
            raise Unauthenticated("this API key is not valid (revoked, or never made)")
        return Principal(key.scope, "key", key.name)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        key = await queue.keys.verify(cookie)
        if key is not None:
            return Principal(key.scope, "session", key.name, csrf_token(cookie))
    if not await queue.keys.exist():
        settings = request.app.state.settings
        if anonymous_allowed(settings.host, settings.allow_anonymous):
            return Principal(Scope.ADMIN, "anonymous")
        raise Unauthenticated(f"this service needs an API key, and none exists: {HOW_TO_CREATE}")
    if cookie:
        raise Unauthenticated("the session has ended: sign in again")
    raise Unauthenticated("an API key is needed: send 'Authorization: Bearer <key>'")


def check(principal: Principal, needed: Scope, request: Request) -> None:
    """NotAllowed unless ``principal`` may make ``request``, which needs ``needed``."""
    if principal.scope < needed:
        raise NotAllowed(f"this key's scope is {principal.scope.label}; this needs {needed.label}")
    if principal.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if principal.csrf is None or not hmac.compare_digest(sent, principal.csrf):
            raise NotAllowed(f"a change from a signed-in page needs its {CSRF_HEADER} header")


Endpoint = Callable[[Request], Awaitable[Response]]


def requires(scope: Scope, endpoint: Endpoint) -> Endpoint:
    """``endpoint``, answered only for a request that may use ``scope``."""

    async def guarded(request: Request) -> Response:
        principal = await identify(request)
        check(principal, scope, request)
        request.state.principal = principal
        return await endpoint(request)

    guarded.__doc__ = endpoint.__doc__
    return guarded


def guard(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """The routes, each behind the scope its OpenAPI operation names."""
    guarded: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route) and route.include_in_schema and route.methods:
            (method,) = route.methods - {"HEAD"}
            scope = OPERATIONS[(method, route.path)].scope
            if scope is not None:
                endpoint = requires(scope, route.endpoint)
                route = Route(route.path, endpoint, methods=[method], name=route.name)  # noqa: PLW2901
        guarded.append(route)
    return guarded
