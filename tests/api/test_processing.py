"""The seed's walkthrough through the API, with the in-process worker."""

from __future__ import annotations

from typing import Any

import httpx
from tests.api.conftest import ClientFactory
from tests.support.waiting import until


async def wait_status(
    client: httpx.AsyncClient, task_id: str, *statuses: str, timeout_s: float = 10
) -> Any:
    """The task once its status is one of ``statuses``; fails after ``timeout_s``."""
    last: list[Any] = []

    async def task_if_there() -> Any:
        task = (await client.get(f"/tasks/{task_id}")).json()
        last[:] = [task]
        return task if task["status"] in statuses else None

    return await until(
        task_if_there,
        timeout_s,
        what=f"task {task_id} to be {' or '.join(statuses)}",
        details=lambda: f"the task: {last[0] if last else None}",
    )


async def wait_terminal(client: httpx.AsyncClient, task_id: str, timeout_s: float = 10) -> Any:
    return await wait_status(
        client, task_id, "completed", "failed", "cancelled", timeout_s=timeout_s
    )


async def test_seed_actions_produce_the_seed_results(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=100) as client:
        cases = [
            ({"action": "uppercase", "data": {"text": "hello world"}}, {"output": "HELLO WORLD"}),
            ({"action": "sum", "data": {"numbers": [1, 2, 3.5]}}, {"output": 6.5}),
            ({"action": "sum", "data": {}}, {"output": 0}),
            ({"action": "resize", "data": {"w": 10}}, {"output": "processed"}),
        ]
        ids = [(await client.post("/tasks", json=body)).json()["id"] for body, _ in cases]
        for task_id, (_, expected) in zip(ids, cases, strict=True):
            task = await wait_terminal(client, task_id)
            assert task["status"] == "completed"
            assert task["result"] == expected
            assert task["attempts"] == 1
            assert task["processed_at"] >= task["started_at"] >= task["created_at"]


async def test_bad_data_fails_only_that_task(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=0) as client:
        bad = await client.post("/tasks", json={"action": "sum", "data": {"numbers": ["a"]}})
        good = await client.post("/tasks", json={"action": "uppercase", "data": {"text": "ok"}})
        failed = await wait_terminal(client, bad.json()["id"])
        assert failed["status"] == "failed"
        assert failed["error"] == "sum: data.numbers must be a list of numbers"
        assert failed["attempts"] == 1, "bad data is not retried"
        done = await wait_terminal(client, good.json()["id"])
        assert done["result"] == {"output": "OK"}
        listed = (await client.get("/tasks?status=failed")).json()
        assert [t["id"] for t in listed["tasks"]] == [failed["id"]]


async def test_demo_delay_is_simulated_work(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=150) as client:
        r = await client.post("/tasks", json={"action": "uppercase", "data": {"text": "x"}})
        task = await wait_terminal(client, r.json()["id"])
        started = task["started_at"]
        processed = task["processed_at"]
        from datetime import datetime

        took = datetime.fromisoformat(processed) - datetime.fromisoformat(started)
        assert took.total_seconds() >= 0.15
