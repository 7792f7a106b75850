"""GET /workers and GET /schedules: the live workers with the tasks they run, and the cron
schedules they run with their next and last ticks. A real worker joins the list when it
starts and leaves it the moment it stops."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from croniter import croniter
from tests.api.conftest import ClientFactory
from tests.support.waiting import until, until_status
from tests.support.worker import actions, running

from taskq.actions import Action
from taskq.drivers.base import Driver
from taskq.queue import Queue
from taskq.roster import WorkerInfo, tick_key
from taskq.task import NewTask, Status


def app_queue(client: httpx.AsyncClient) -> Queue:
    found: Queue = client.app.state.queue  # type: ignore[attr-defined]
    return found


async def get(client: httpx.AsyncClient, path: str) -> Any:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def announce(driver: Driver, worker_id: str, *, last_seen: float, **fields: Any) -> None:
    given: dict[str, Any] = {
        "host": "box",
        "pid": 7,
        "queues": None,
        "concurrency": 2,
        "lease_s": 30.0,
        "schedules": {},
        **fields,
    }
    await driver.announce(
        WorkerInfo(id=worker_id, started_at=last_seen, last_seen=last_seen, **given)
    )


async def test_no_workers_and_no_schedules_are_empty_lists(client: httpx.AsyncClient) -> None:
    assert await get(client, "/workers") == {"workers": []}
    assert await get(client, "/schedules") == {"schedules": []}


async def test_a_worker_shows_its_announcement_and_running_tasks_and_a_stale_one_does_not(
    client: httpx.AsyncClient,
) -> None:
    driver = app_queue(client).driver
    now = time.time()
    await announce(driver, "w1", last_seen=now - 1, queues=["emails"], concurrency=3)
    await announce(driver, "stale", last_seen=now - 31)
    task = await app_queue(client).enqueue("x")
    await driver.claim("w1", 1, queues=None, lease_s=30, now=time.time(), start=1)
    (shown,) = (await get(client, "/workers"))["workers"]
    assert shown == {
        "id": "w1",
        "host": "box",
        "pid": 7,
        "queues": ["emails"],
        "concurrency": 3,
        "running": [task.id],
        "started_at": shown["started_at"],
        "last_seen": shown["last_seen"],
    }
    assert epoch(shown["last_seen"]) == epoch(shown["started_at"]) == pytest.approx(now - 1)


async def test_schedules_are_listed_once_with_next_run_and_last_tick(
    client: httpx.AsyncClient,
) -> None:
    driver = app_queue(client).driver
    now = time.time()
    every_5 = "*/5 * * * *"
    await announce(driver, "w1", last_seen=now, schedules={"report": every_5, "sync": "0 * * * *"})
    await announce(driver, "w2", last_seen=now, schedules={"report": every_5})
    await announce(driver, "w3", last_seen=now - 60, schedules={"gone": "* * * * *"})
    tick = float(croniter(every_5, now).get_prev(float))
    await app_queue(client).enqueue_many(
        [NewTask(action="report", idempotency_key=tick_key("report", tick))]
    )
    body = await get(client, "/schedules")
    assert [(s["action"], s["expression"]) for s in body["schedules"]] == [
        ("report", every_5),
        ("sync", "0 * * * *"),
    ], "once each, of live workers only"
    report, sync = body["schedules"]
    assert epoch(report["last_tick"]) == tick
    assert epoch(report["next_run"]) == croniter(every_5, now).get_next(float)
    assert sync["last_tick"] is None
    assert now < epoch(sync["next_run"]) <= now + 3600


async def test_a_running_worker_is_listed_with_its_task_and_gone_at_once_when_stopped(
    client: httpx.AsyncClient,
) -> None:
    queue = app_queue(client)
    release = asyncio.Event()

    async def wait(data: dict[str, Any]) -> str:
        await release.wait()
        return "done"

    async with running(queue, actions(Action("wait", wait)), concurrency=2) as worker:
        task = await queue.enqueue("wait")
        await until_status(queue, task.id, Status.RUNNING)

        async def listed() -> Any:
            found = (await get(client, "/workers"))["workers"]
            return found if found and found[0]["running"] == [task.id] else None

        (shown,) = await until(listed, what="the worker listed with its task")
        assert (shown["id"], shown["concurrency"], shown["queues"]) == (worker.id, 2, None)
        assert (shown["host"], shown["pid"]) == (socket.gethostname(), os.getpid())
        release.set()
        await until_status(queue, task.id, Status.COMPLETED)
    assert worker.is_stopping
    assert await get(client, "/workers") == {"workers": []}, "a clean stop leaves at once"


async def test_a_workers_schedule_is_listed_while_it_runs(
    make_client: ClientFactory,
) -> None:
    async with make_client(run_worker=True, cron={"report": "0 0 1 1 *"}) as client:

        async def shown() -> Any:
            return (await get(client, "/schedules"))["schedules"]

        (schedule,) = await until(shown, what="the in-process worker's schedule")
    assert (schedule["action"], schedule["expression"]) == ("report", "0 0 1 1 *")
    assert datetime.fromisoformat(schedule["next_run"].replace("Z", "+00:00")).month == 1
    assert schedule["last_tick"] is None


async def test_both_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await get(client, "/openapi.json"))["paths"]
    assert set(paths["/workers"]["get"]["responses"]) == {"200", "401", "403", "503"}
    assert set(paths["/schedules"]["get"]["responses"]) == {"200", "401", "403", "503"}
