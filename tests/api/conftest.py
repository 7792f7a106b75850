"""An app on a real database, with and without its in-process worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from tests.api.conformance import Conformance

from taskq.api import create_app
from taskq.config import Settings
from taskq.service import with_worker

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(database_url: str) -> ClientFactory:
    @asynccontextmanager
    async def make(
        *, run_worker: bool = False, **settings: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        config = Settings(database=database_url, **settings)
        app = create_app(config, alongside=with_worker(config) if run_worker else None)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            conformance = Conformance(app.state.openapi)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://taskq",
                event_hooks={"response": [conformance.on_response]},
            ) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c
