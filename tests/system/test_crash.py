"""kill -9 of `taskq run`, then a restart on the same database: nothing acknowledged is lost,
every task ends with exactly one row and one result."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system import client, store
from tests.system.procs import Processes

pytestmark = pytest.mark.system

# Far longer than the tests wait: finishing in time proves recovery did not wait for leases.
LEASE_S = "60"


def assert_each_id_listed_once(http: httpx.Client, expected: set[str]) -> list[client.Task]:
    listed = client.list_all(http)
    counts = Counter(t["id"] for t in listed)
    assert not {i: n for i, n in counts.items() if n > 1}, "tasks listed more than once"
    assert set(counts) == expected, (
        f"missing: {sorted(expected - set(counts))}, unexpected: {sorted(set(counts) - expected)}"
    )
    return listed


def test_kill9_mid_work_then_restart_loses_nothing_and_runs_each_task_to_one_result(
    procs: Processes, database_url: str
) -> None:
    n = 60
    first = procs.start_run(
        database_url, delay_ms="300", concurrency="2", lease_s=LEASE_S, name="run-killed"
    )
    first.wait_ready()
    with httpx.Client(base_url=first.url, timeout=5) as http:
        texts = {
            client.submit(http, "uppercase", {"text": f"task {i}"}): f"task {i}" for i in range(n)
        }
        wait_until(
            lambda: client.count(http, "completed") >= 2 and client.count(http, "running") >= 1,
            15,
            what="work under way",
            details=procs.describe,
        )
    first.kill9()

    at_kill = store.tasks_by_id(database_url)
    assert set(at_kill) == set(texts), "an acknowledged task is not in the database"
    running = {i for i, t in at_kill.items() if t["status"] == "running"}
    done_before = {i for i, t in at_kill.items() if t["status"] == "completed"}
    assert running, "the kill did not land mid-task"

    second = procs.start_run(
        database_url, delay_ms="20", concurrency="4", lease_s=LEASE_S, name="run-restarted"
    )
    second.wait_ready()
    with httpx.Client(base_url=second.url, timeout=5) as http:
        tasks = client.wait_terminal(http, set(texts), 20, details=procs.describe)
        assert_each_id_listed_once(http, set(texts))

    for task_id, text in texts.items():
        task = tasks[task_id]
        assert task["status"] == "completed", task
        assert task["result"] == {"output": text.upper()}, task
        if task_id in running:  # interrupted by the kill: run again, the lost attempt recorded
            assert task["attempts"] == 2, task
            assert [e["attempt"] for e in task["errors"]] == [1], task
        else:  # finished before the kill, or never started before it: ran once
            assert task["attempts"] == 1, task
            assert task["errors"] == [], task
    assert all(tasks[i]["attempts"] == 1 for i in done_before)

    stored = store.tasks_by_id(database_url)
    assert set(stored) == set(texts)
    for task_id, row in stored.items():
        assert row["status"] == "completed", row
        assert row["worker_id"] is None, row
        assert row["result"] == {"output": texts[task_id].upper()}, row


async def test_kill9_during_a_burst_of_posts_keeps_every_acknowledged_task(
    procs: Processes, database_url: str
) -> None:
    clients, target = 12, 150
    service = procs.start_run(
        database_url, delay_ms="20", concurrency="4", lease_s=LEASE_S, name="run-killed"
    )
    service.wait_ready()
    acked: dict[str, str] = {}
    refused: list[str] = []
    enough = asyncio.Event()

    async def post_until_cut_off(http: httpx.AsyncClient, c: int) -> int:
        for n in range(10_000):
            text = f"client {c} task {n}"
            task = {"action": "uppercase", "data": {"text": text}}
            try:
                response = await http.post("/tasks", json=task)
            except httpx.TransportError:
                return n
            if response.status_code != 202:
                refused.append(f"{response.status_code} {response.text}")
                enough.set()  # fail now, not at the deadline
                return n
            acked[response.json()["id"]] = text
            if len(acked) >= target:
                enough.set()
        raise AssertionError("the process was never killed")

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=service.url, timeout=10, limits=limits) as burst:
        posting = [asyncio.create_task(post_until_cut_off(burst, c)) for c in range(clients)]
        try:
            await asyncio.wait_for(enough.wait(), 30)
            assert not refused, f"POST /tasks did not answer 202: {refused[:3]}"
            service.kill9()
            sent = await asyncio.wait_for(asyncio.gather(*posting), 15)
        finally:
            for task in posting:
                task.cancel()
    assert sum(sent) == len(acked)

    stored = store.tasks_by_id(database_url)
    assert not set(acked) - set(stored), "acknowledged tasks are missing after kill -9"

    restarted = procs.start_run(
        database_url, delay_ms="0", concurrency="4", lease_s=LEASE_S, name="run-restarted"
    )
    restarted.wait_ready()
    with httpx.Client(base_url=restarted.url, timeout=5) as http:
        tasks = client.wait_terminal(http, set(stored), 20, details=procs.describe)
        assert_each_id_listed_once(http, set(stored))
    for task_id, text in acked.items():
        assert tasks[task_id]["status"] == "completed", tasks[task_id]
        assert tasks[task_id]["result"] == {"output": text.upper()}, tasks[task_id]
    stored_after = store.tasks_by_id(database_url)
    assert set(stored_after) == set(stored), "rows appeared or vanished after the restart"
    assert all(row["status"] == "completed" for row in stored_after.values())
