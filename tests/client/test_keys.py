"""API keys: a client without one is refused once a key exists; with it, served. The key
never shows in a repr, an exception or a log line."""

from __future__ import annotations

import logging

import pytest
from tests.support.waiting import wait_until
from tests.system.procs import Processes, TaskqProcess

import taskq
from taskq.task import Status

pytestmark = pytest.mark.system


def create_key(procs: Processes, database_url: str, scope: str) -> str:
    done = procs.run("keys", "create", "--name", "t", "--scope", scope, "--database", database_url)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def refuses(client: taskq.Client) -> taskq.Unauthorized | None:
    try:
        client.get("00000000-0000-4000-8000-000000000000")
    except taskq.Unauthorized as error:
        return error
    except taskq.NotFound:
        return None  # still served: the service has not seen the key yet
    raise AssertionError("neither 401 nor 404")


def test_once_a_key_exists_the_client_needs_it_and_never_shows_it(
    procs: Processes,
    database_url: str,
    service: TaskqProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = create_key(procs, database_url, "submit")

    with taskq.Client(service.url) as anonymous:
        refused = wait_until(lambda: refuses(anonymous), 10, what="a 401 without the key")
        with pytest.raises(taskq.Unauthorized):
            anonymous.submit("uppercase", {"text": "hi"})
    assert refused.status_code == 401
    assert refused.error

    with taskq.Client(service.url, api_key=key) as client:
        done = client.wait(client.submit("uppercase", {"text": "hi"}).id, timeout=30)
        assert done.status is Status.COMPLETED
        with pytest.raises(taskq.Forbidden) as forbidden:
            client.cancel(done.id)  # admin only
        shown = [repr(client), str(client), repr(forbidden.value), str(forbidden.value)]

    assert forbidden.value.status_code == 403
    assert "admin" in forbidden.value.error
    assert repr(client) == f"Client(url={service.url!r}, api_key=***)"
    assert all(key not in text for text in shown)
    assert key not in caplog.text
    assert key not in service.log()


async def test_the_async_client_sends_its_key_too(
    procs: Processes, database_url: str, service: TaskqProcess
) -> None:
    key = create_key(procs, database_url, "read")

    async with taskq.AsyncClient(service.url, api_key=key) as client:
        assert [t async for t in client.list()] == []
        with pytest.raises(taskq.Forbidden):
            await client.submit("uppercase", {"text": "hi"})
        assert key not in repr(client)
