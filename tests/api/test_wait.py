"""GET /tasks/{id}?wait=S: answered once the task is finished, woken by the events every
process publishes (api/waiting.py), never by polling the store; on every driver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.api.conftest import ClientFactory
from tests.support.waiting import until

from taskq.api.events import end_streams
from taskq.api.waiting import Waiters
from taskq.filters import TaskFilter
from taskq.queue import Queue
from taskq.task import Status

UNKNOWN = "0000000a-0000-4000-8000-00000000000b"


def queue_of(client: httpx.AsyncClient) -> Queue:
    queue: Queue = client.app.state.queue  # type: ignore[attr-defined]
    return queue


def waiters_of(client: httpx.AsyncClient) -> Waiters:
    waiters: Waiters = client.app.state.waiters  # type: ignore[attr-defined]
    return waiters


async def post(client: httpx.AsyncClient, action: str = "a") -> str:
    r = await client.post("/tasks", json={"action": action})
    assert r.status_code == 202
    return str(r.json()["id"])


async def complete(queue: Queue, task_id: str, *, tell: bool = True) -> None:
    """Complete a queued task as a worker does (the next ready one must be ``task_id``),
    telling every process (``tell``) or not."""
    driver, now = queue.driver, time.time()
    (task,) = await driver.claim("w", 1, queues=None, lease_s=30, now=now, start=1)
    assert task.id == task_id
    assert await driver.complete(task_id, "w", '"done"', now=now)
    if tell:
        queue.events.task("completed", task, at=now)


class Reads:
    """Counts the store's reads of tasks (``get`` and ``list_tasks``) from now on."""

    def __init__(self, queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
        self.get = self.lists = 0
        driver = queue.driver
        get, list_tasks = driver.get, driver.list_tasks

        def counted(name: str, read: Callable[..., Any]) -> Callable[..., Any]:
            async def call(*args: Any, **kw: Any) -> Any:
                setattr(self, name, getattr(self, name) + 1)
                return await read(*args, **kw)

            return call

        monkeypatch.setattr(driver, "get", counted("get", get))
        monkeypatch.setattr(driver, "list_tasks", counted("lists", list_tasks))


async def test_a_finished_task_answers_at_once(client: httpx.AsyncClient) -> None:
    task_id = await post(client)
    await queue_of(client).cancel(task_id)
    started = time.monotonic()
    r = await client.get(f"/tasks/{task_id}", params={"wait": 30})
    assert (r.status_code, r.json()["status"]) == (200, "cancelled")
    assert time.monotonic() - started < 1


async def test_an_unknown_task_answers_404_at_once(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    for task_id in (UNKNOWN, "nope", UNKNOWN.upper()):
        r = await client.get(f"/tasks/{task_id}", params={"wait": 30})
        assert r.status_code == 404, r.text
    assert time.monotonic() - started < 1


async def test_a_wait_ends_when_the_worker_completes_the_task(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=500) as client:
        task_id = await post(client, "uppercase")
        started = time.monotonic()
        r = await client.get(f"/tasks/{task_id}", params={"wait": 20})
        assert (r.status_code, r.json()["status"]) == (200, "completed"), r.text
        assert time.monotonic() - started < 5


async def test_a_wait_runs_out_with_the_task_as_it_is(client: httpx.AsyncClient) -> None:
    task_id = await post(client)
    started = time.monotonic()
    r = await client.get(f"/tasks/{task_id}", params={"wait": "0.3"})
    took = time.monotonic() - started
    assert (r.status_code, r.json()["status"]) == (200, "queued")
    assert 0.3 <= took < 1.5, took
    assert waiters_of(client).count == 0


async def test_a_bad_wait_is_a_400_naming_it(client: httpx.AsyncClient) -> None:
    task_id = await post(client)
    for bad in ("0", "-1", "61", "60.01", "x", "nan", "inf", "1e1", " 5", "0.0"):
        r = await client.get(f"/tasks/{task_id}", params={"wait": bad})
        assert (r.status_code, r.json()["field"]) == (400, "wait"), (bad, r.text)
    r = await client.get(f"/tasks/{UNKNOWN}", params={"wait": "0"})
    assert r.status_code == 400, "the parameter is read first"


async def test_one_completion_wakes_200_waiters_who_cost_no_query_while_they_wait(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = queue_of(client)
    task_id = await post(client)
    reads = Reads(queue, monkeypatch)
    waits = [
        asyncio.create_task(client.get(f"/tasks/{task_id}", params={"wait": 30}))
        for _ in range(200)
    ]
    # one read each as it starts to wait
    await until(
        lambda: waiters_of(client).count == 200 and reads.get == 200, 10, what="200 waiters"
    )
    settled = (reads.get, reads.lists)
    assert settled == (200, 0)
    await asyncio.sleep(0.5)  # events keep flowing (the submission's): still no read
    assert (reads.get, reads.lists) == settled

    started = time.monotonic()
    await complete(queue, task_id)
    answers = await asyncio.gather(*waits)
    assert time.monotonic() - started < 5
    assert {(r.status_code, r.json()["status"]) for r in answers} == {(200, "completed")}
    assert (reads.get, reads.lists) == (400, 0), "one more read each once woken"
    assert waiters_of(client).count == 0


async def test_a_resync_rereads_the_waited_tasks_in_one_query_and_wakes_the_finished(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = queue_of(client)
    done, still = await post(client), await post(client)
    reads = Reads(queue, monkeypatch)
    waits = {
        task_id: asyncio.create_task(client.get(f"/tasks/{task_id}", params={"wait": 30}))
        for task_id in (done, still)
    }
    await until(lambda: waiters_of(client).count == 2 and reads.get == 2, 10, what="2 waiters")
    await complete(queue, done, tell=False)  # as if its event were lost
    other = await post(client)
    changed = await queue.cancel_matching(TaskFilter(ids=(other,)))  # tells a resync
    assert changed.changed == 1
    r = await asyncio.wait_for(waits[done], 5)
    assert r.json()["status"] == "completed"
    assert reads.lists >= 1
    assert not waits[still].done()
    assert waiters_of(client).count == 1
    await queue.cancel(still)
    assert (await asyncio.wait_for(waits[still], 5)).json()["status"] == "cancelled"


async def test_a_stopping_service_answers_its_waits_at_once(client: httpx.AsyncClient) -> None:
    task_id = await post(client)
    wait = asyncio.create_task(client.get(f"/tasks/{task_id}", params={"wait": 30}))
    await until(lambda: waiters_of(client).count == 1, 10, what="a waiter")
    started = time.monotonic()
    await end_streams(client.app)  # type: ignore[attr-defined]
    r = await asyncio.wait_for(wait, 5)
    assert (r.status_code, r.json()["status"]) == (200, "queued")
    assert time.monotonic() - started < 1
    again = await client.get(f"/tasks/{task_id}", params={"wait": 30})
    assert again.json()["status"] == Status.QUEUED, "a wait after the stop began: at once"
