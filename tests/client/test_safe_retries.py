"""A submission retried after a lost answer stores one task; a 503 is tried again.

A TCP proxy between the client and a real `taskq run` forwards the request, lets the service
answer, and closes the client's connection instead of passing the answer on: the service
stored the task, the client never heard of it and sends the submission again.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from tests.support.waiting import until
from tests.system.procs import Processes, TaskqProcess
from tests.tcp_proxy import TcpProxy

import taskq
from taskq.task import Status

from .conftest import start_service


async def _store_down(url: str) -> bool:
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        return (await http.get("/readyz")).status_code == 503


pytestmark = pytest.mark.system


def count(url: str, action: str) -> int:
    with taskq.Client(url) as client:
        return len(list(client.list(action=action)))


async def test_a_submission_whose_answer_was_lost_is_retried_and_stores_one_task(
    service: TaskqProcess, http_proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="taskq.client")
    http_proxy.drop_answers(1)
    async with taskq.AsyncClient(http_proxy.url(service.url)) as client:
        accepted = await client.submit("uppercase", {"text": "once"}, delay=3600)

    assert http_proxy.answers_to_drop == 0  # an answer was lost, and the client tried again
    assert "POST /tasks: RemoteProtocolError; retry 1 of 3" in caplog.text
    assert accepted.status is Status.QUEUED
    assert accepted.created  # by the first try; the second found it
    assert await asyncio.to_thread(count, service.url, "uppercase") == 1


async def test_the_sync_client_retries_a_lost_answer_the_same_way(
    service: TaskqProcess, http_proxy: TcpProxy
) -> None:
    http_proxy.drop_answers(2)

    def submit() -> taskq.client.Accepted:
        with taskq.Client(http_proxy.url(service.url)) as client:
            return client.submit("uppercase", {"text": "once"})

    accepted = await asyncio.to_thread(submit)

    assert http_proxy.answers_to_drop == 0
    assert await asyncio.to_thread(count, service.url, "uppercase") == 1
    with taskq.Client(service.url) as client:
        assert client.get(accepted.id).payload == {"text": "once"}


async def test_a_batch_whose_answer_was_lost_is_retried_and_stores_each_task_once(
    service: TaskqProcess, http_proxy: TcpProxy
) -> None:
    http_proxy.drop_answers(1)
    async with taskq.AsyncClient(http_proxy.url(service.url)) as client:
        accepted = await client.submit_many(
            [{"action": "noop", "data": {"n": n}, "delay": 3600} for n in range(5)]
        )

    assert http_proxy.answers_to_drop == 0
    assert len({a.id for a in accepted}) == 5
    assert await asyncio.to_thread(count, service.url, "noop") == 5


async def test_a_cancel_is_not_sent_again_once_it_may_have_arrived(
    service: TaskqProcess, http_proxy: TcpProxy
) -> None:
    async with taskq.AsyncClient(http_proxy.url(service.url)) as client:
        accepted = await client.submit("noop", delay=3600)
        http_proxy.drop_answers(1)
        with pytest.raises(taskq.ConnectionFailed) as caught:
            await client.cancel(accepted.id)
        assert "tried 1 times" in str(caught.value)
        assert (await client.get(accepted.id)).status is Status.CANCELLED  # it had arrived


async def test_a_503_is_retried_and_then_raised_as_unavailable(
    procs: Processes, proxy: TcpProxy, postgres_url: str
) -> None:
    """The service's PostgreSQL goes away (a proxy in front of it stops): the API answers
    503 `store unavailable`; the client tries again, and raises ``Unavailable`` at last."""
    # started from a thread: the proxy forwards on this loop while the service starts
    service = await asyncio.to_thread(start_service, procs, proxy.url(postgres_url))
    async with taskq.AsyncClient(service.url, retries=2) as client:
        accepted = await client.submit("noop", delay=3600)
        await proxy.stop()
        # the service has seen its store go (under load, a pooled connection can outlive
        # the proxy's stop by a moment): what is tested is the client's answer to a 503
        await until(lambda: _store_down(service.url), 10, what="/readyz to answer 503")
        with pytest.raises(taskq.Unavailable) as caught:
            await client.get(accepted.id)
        assert (caught.value.status_code, caught.value.error) == (503, "store unavailable")

        await proxy.start()
        assert (await client.get(accepted.id)).id == accepted.id
