"""GET /readyz tells a probe the truth within its 1 s: 503 while the store cannot be
reached or cannot take writes, however the store fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from tests.api.conformance import Conformance
from tests.tcp_proxy import TcpProxy

from taskq.api import create_app
from taskq.config import Settings

# a probe's default timeout is 1 s; some slack for a loaded test machine
PROBE_S = 1.5
TASK = {"action": "uppercase", "data": {"text": "hi"}}


@asynccontextmanager
async def client_on(database: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database=database))
    async with app.router.lifespan_context(app):
        conformance = Conformance(app.state.openapi)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://taskq",
            event_hooks={"response": [conformance.on_response]},
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def timed(client: httpx.AsyncClient, method: str, path: str) -> tuple[httpx.Response, float]:
    """The answer, and how long it took; a few seconds without one fail the test."""
    t0 = time.monotonic()
    async with asyncio.timeout(5):  # ASGITransport has no timeouts of its own
        response = await client.request(method, path, json=TASK if method == "POST" else None)
    return response, time.monotonic() - t0


async def test_readyz_and_submit_answer_503_within_a_second_while_postgres_is_down(
    proxy: TcpProxy, postgres_url: str
) -> None:
    async with client_on(proxy.url(postgres_url)) as client:
        assert (await client.get("/readyz")).status_code == 200
        await proxy.stop()
        timings = []
        for method, path in [("GET", "/readyz")] * 3 + [("POST", "/tasks")] * 2:
            response, elapsed_s = await timed(client, method, path)
            assert response.status_code == 503, (method, path, response.text)
            assert response.json() == {"error": "store unavailable"}
            assert elapsed_s < PROBE_S, (method, path, elapsed_s)
            timings.append(f"{method} {path} {elapsed_s:.2f}s")
        print("store down:", ", ".join(timings))


async def test_readyz_answers_503_within_a_second_while_postgres_is_silent(
    proxy: TcpProxy, postgres_url: str
) -> None:
    """A server behind a dead link answers nothing and closes nothing: only the deadline
    of the check itself ends the wait."""
    async with client_on(proxy.url(postgres_url)) as client:
        assert (await client.get("/readyz")).status_code == 200
        proxy.silence()
        try:
            response, elapsed_s = await timed(client, "GET", "/readyz")
        finally:
            await proxy.stop()  # lets the abandoned ping end
        print(f"store silent: GET /readyz {elapsed_s:.2f}s")
        assert response.status_code == 503
        assert response.json() == {"error": "store unavailable"}
        assert elapsed_s < PROBE_S


async def test_readyz_answers_503_when_the_sqlite_disk_lacks_free_space(
    migrated_sqlite_url: str,
) -> None:
    async with client_on(migrated_sqlite_url) as client:
        assert (await client.get("/readyz")).status_code == 200
        client.app.state.queue.driver.min_free_bytes = 2**62  # type: ignore[attr-defined]
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"error": "store unavailable"}
