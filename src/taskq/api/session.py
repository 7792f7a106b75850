"""``/session``: the dashboard's sign-in with an API key.

Signing in puts the key in a cookie the page's scripts cannot read (HttpOnly), that the
browser sends to this service only (SameSite=Strict; Secure over TLS). Every request checks
it as it checks a key in the header, so revoking the key ends its sessions. Changes also
need the CSRF token that ``GET /session`` gives the page (``auth.py``).
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from taskq.api.auth import SESSION_COOKIE, Principal, identify
from taskq.api.body import read_body
from taskq.api.errors import BadRequest, Unauthenticated
from taskq.api.responses import json_response
from taskq.api.wire import SessionOut, SignIn
from taskq.keys import csrf_token
from taskq.queue import Queue

SESSION_S = 12 * 3600
_decode_sign_in = msgspec.json.Decoder(SignIn).decode


def _out(principal: Principal) -> SessionOut:
    return SessionOut(principal.scope.label, principal.via, principal.csrf)


async def get_session(request: Request) -> Response:
    """GET /session: who the page is signed in as (401: it must sign in)."""
    return json_response(_out(await identify(request)))


async def sign_in(request: Request) -> Response:
    """POST /session: sign in with a key; sets the session cookie."""
    settings = request.app.state.settings
    raw = await read_body(request, settings.max_body_bytes, settings.body_timeout_s)
    try:
        secret = _decode_sign_in(raw).key
    except msgspec.ValidationError as exc:
        raise BadRequest(f"{exc}", 422) from None
    except msgspec.DecodeError:
        raise BadRequest('the body must be JSON: {"key": "..."}') from None
    queue: Queue = request.app.state.queue
    key = await queue.keys.verify(secret)
    if key is None:
        raise Unauthenticated("this API key is not valid (revoked, or never made)")
    principal = Principal(key.scope, "session", key.name, csrf_token(secret))
    response = json_response(_out(principal))
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=SESSION_S,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def sign_out(_: Request) -> Response:
    """DELETE /session: forget the session cookie."""
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
