"""``wait`` is woken by the task's end, also when another process runs it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from tests.system.procs import Processes

import taskq
from taskq.task import Status

from .test_client import CountingTransport

pytestmark = pytest.mark.system


def test_a_wait_on_the_api_returns_soon_after_another_process_completes_the_task(
    procs: Processes, database_url: str
) -> None:
    """`taskq api` and a separate `taskq worker`: the worker's completion reaches the API
    process, whose held answer returns at once, without the client polling."""
    api = procs.start("api", "--database", database_url, name="api")
    api.wait_ready()
    worker = procs.start(
        "worker", "--database", database_url, "--demo-delay-ms", "2000", http=False, name="worker"
    )
    worker.wait_log("started: concurrency=")
    transport = CountingTransport()
    with taskq.Client(api.url, transport=transport) as client:
        accepted = client.submit("uppercase", {"text": "slow"})
        transport.sent.clear()
        started = time.monotonic()

        task = client.wait(accepted.id, timeout=30)

        returned = datetime.now(UTC)
    assert task.status is Status.COMPLETED
    assert task.result == {"output": "SLOW"}
    assert time.monotonic() - started >= 1.5  # it did wait for the 2 s of work
    assert task.processed_at is not None
    assert (returned - task.processed_at).total_seconds() < 1.0
    assert len(transport.sent) == 1  # one held request, no polling
    assert transport.sent[0].url.params["wait"] == "30"


def test_a_wait_longer_than_the_services_limit_asks_for_60_s_at_most(
    procs: Processes, database_url: str
) -> None:
    from .conftest import start_service

    service = start_service(procs, database_url)
    transport = CountingTransport()
    with taskq.Client(service.url, transport=transport) as client:
        accepted = client.submit("uppercase", {"text": "x"})
        assert client.wait(accepted.id, timeout=600).status is Status.COMPLETED
    waits = [r.url.params.get("wait") for r in transport.sent if r.method == "GET"]
    assert waits == ["60"]


def test_a_waits_read_timeout_covers_the_held_answer() -> None:
    from taskq.client import calls

    call = calls.get("some-id", wait_s=45)
    timeout = calls.timeout(call, 10)
    assert isinstance(timeout, httpx.Timeout)
    assert (timeout.connect, timeout.read) == (10, 55)
