"""CORS (``--cors-origins``): none by default; with origins configured, the pages of exactly
those origins may call the API (preflights allowed, answers readable, their POSTs past the
cross-origin protection), and every other origin is treated as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from tests.api.conftest import ClientFactory

from taskq.config import Settings
from taskq.keys import Scope
from taskq.queue import Queue

APP = "https://app.example"
OTHER = "https://evil.example"
TASK = {"action": "uppercase", "data": {"text": "hi"}}
ALLOW_ORIGIN = "access-control-allow-origin"


def preflight_headers(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }


def cross_site(origin: str) -> dict[str, str]:
    """What a browser adds to a fetch() from a page of ``origin``."""
    return {"Origin": origin, "Sec-Fetch-Site": "cross-site"}


@asynccontextmanager
async def plain_client(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The same app without the conformance check: a preflight is answered by the CORS
    layer, before any documented operation."""
    transport = httpx.ASGITransport(app=api.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://taskq") as client:
        yield client


async def count(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> int:
    r = await client.get("/tasks", headers=headers)
    assert r.status_code == 200, r.text
    found: int = r.json()["count"]
    return found


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    async with plain_client(client) as plain:
        r = await plain.options("/tasks", headers=preflight_headers(APP))
        assert ALLOW_ORIGIN not in r.headers
        assert not any(h.startswith("access-control-") for h in r.headers), r.headers
    r = await client.get("/tasks", headers={"Origin": APP})
    assert r.status_code == 200
    assert not any(h.startswith("access-control-") for h in r.headers), r.headers
    r = await client.post("/tasks", json=TASK, headers=cross_site(APP))
    assert r.status_code == 403, "a cross-site POST passed with no origin allowed"
    assert ALLOW_ORIGIN not in r.headers


@pytest.fixture
async def cors_client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(cors_origins=[APP]) as client:
        yield client


async def test_a_preflight_from_an_allowed_origin_is_allowed(
    cors_client: httpx.AsyncClient,
) -> None:
    async with plain_client(cors_client) as plain:
        for method in ("GET", "POST", "DELETE"):
            r = await plain.options("/tasks", headers=preflight_headers(APP, method))
            assert r.status_code == 200, (method, r.text)
            assert r.headers[ALLOW_ORIGIN] == APP
            allowed = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
            assert method in allowed
            headers = r.headers["access-control-allow-headers"].lower()
            assert "authorization" in {h.strip() for h in headers.split(",")}
            assert r.headers.get("access-control-allow-credentials") is None, "no cookies"


async def test_a_preflight_is_answered_without_a_key_once_keys_exist(
    cors_client: httpx.AsyncClient,
) -> None:
    """A browser sends no Authorization with a preflight: it must not need one."""
    queue: Queue = cors_client.app.state.queue  # type: ignore[attr-defined]
    key = await queue.keys.create("page", Scope.SUBMIT)
    async with plain_client(cors_client) as plain:
        r = await plain.options("/tasks", headers=preflight_headers(APP))
        assert r.status_code == 200, r.text
        assert r.headers[ALLOW_ORIGIN] == APP
    # and the page can read a refusal as well as an answer
    r = await cors_client.get("/tasks", headers={"Origin": APP})
    assert r.status_code == 401
    assert r.headers[ALLOW_ORIGIN] == APP
    auth = {"Authorization": f"Bearer {key}"}
    r = await cors_client.post("/tasks", json=TASK, headers={**cross_site(APP), **auth})
    assert r.status_code == 202, r.text
    assert r.headers[ALLOW_ORIGIN] == APP
    assert "location" in r.headers["access-control-expose-headers"].lower()


async def test_an_allowed_origins_requests_pass_and_are_readable(
    cors_client: httpx.AsyncClient,
) -> None:
    r = await cors_client.get("/tasks", headers={"Origin": APP})
    assert r.status_code == 200
    assert r.headers[ALLOW_ORIGIN] == APP
    for headers in ({"Origin": APP}, cross_site(APP)):
        r = await cors_client.post("/tasks", json=TASK, headers=headers)
        assert r.status_code == 202, (headers, r.text)
        assert r.headers[ALLOW_ORIGIN] == APP
        task_id = r.json()["id"]
        r = await cors_client.post(f"/tasks/{task_id}/cancel", headers=headers)
        assert r.status_code == 200, r.text
    assert await count(cors_client) == 2


@pytest.mark.parametrize(
    "origin", [OTHER, "http://app.example", "https://app.example:8443", "null", "https://app"]
)
async def test_another_origin_gets_no_cors_header_and_its_post_is_refused(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    async with plain_client(cors_client) as plain:
        r = await plain.options("/tasks", headers=preflight_headers(origin))
        assert r.status_code != 200, r.text
        assert ALLOW_ORIGIN not in r.headers
    r = await cors_client.get("/tasks", headers={"Origin": origin})
    assert r.status_code == 200
    assert ALLOW_ORIGIN not in r.headers
    for headers in ({"Origin": origin}, cross_site(origin)):
        r = await cors_client.post("/tasks", json=TASK, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert r.json() == {"error": "cross-origin request refused"}
        assert ALLOW_ORIGIN not in r.headers
    assert await count(cors_client) == 0


async def test_a_disallowed_header_or_method_fails_the_preflight(
    cors_client: httpx.AsyncClient,
) -> None:
    async with plain_client(cors_client) as plain:
        r = await plain.options("/tasks", headers=preflight_headers(APP, "PUT"))
        assert r.status_code == 400
        headers = {**preflight_headers(APP), "Access-Control-Request-Headers": "x-secret"}
        r = await plain.options("/tasks", headers=headers)
        assert r.status_code == 400


def test_origins_are_read_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASKQ_CORS_ORIGINS", f"{APP},https://b.example")
    assert Settings().cors_origins == [APP, "https://b.example"]


async def test_several_origins_from_one_setting(make_client: ClientFactory) -> None:
    async with make_client(cors_origins=f"{APP},https://b.example") as client:
        for origin in (APP, "https://b.example"):
            r = await client.post("/tasks", json=TASK, headers=cross_site(origin))
            assert r.status_code == 202, (origin, r.text)
            assert r.headers[ALLOW_ORIGIN] == origin
        r = await client.post("/tasks", json=TASK, headers=cross_site(OTHER))
        assert r.status_code == 403
