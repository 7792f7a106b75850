"""Idempotency keys, cancellation and re-queueing over HTTP."""

from __future__ import annotations

import httpx
from tests.api.conftest import ClientFactory
from tests.api.test_processing import wait_status, wait_terminal


async def test_same_key_same_body_returns_the_original(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post(
        "/tasks", json={"action": "a", "data": {"x": 1, "y": 2}}, headers=headers
    )
    # the same body, laid out differently
    again = await client.post(
        "/tasks", content=b'{"data":{"y":2,"x":1},  "action":"a"}', headers=headers
    )
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert (await client.get("/tasks")).json()["count"] == 1


async def test_same_key_other_body_is_409(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "order-43"}
    await client.post("/tasks", json={"action": "a"}, headers=headers)
    r = await client.post("/tasks", json={"action": "b"}, headers=headers)
    assert r.status_code == 409
    assert "idempotency key 'order-43' was used for a different task" in r.json()["error"]


async def test_a_bad_idempotency_key_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/tasks", json={"action": "a"}, headers={"Idempotency-Key": "k" * 201})
    assert r.status_code == 400
    assert r.json()["field"] == "Idempotency-Key"


async def test_without_a_key_every_post_is_a_new_task(client: httpx.AsyncClient) -> None:
    ids = {(await client.post("/tasks", json={"action": "a"})).json()["id"] for _ in range(3)}
    assert len(ids) == 3


async def test_cancel_a_queued_task(client: httpx.AsyncClient) -> None:
    task_id = (await client.post("/tasks", json={"action": "a"})).json()["id"]
    r = await client.post(f"/tasks/{task_id}/cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert (await client.post(f"/tasks/{task_id}/cancel")).status_code == 200, "idempotent"
    assert (await client.get(f"/tasks/{task_id}")).json()["status"] == "cancelled"


async def test_cancel_unknown_or_finished_tasks(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=0) as client:
        task_id = (await client.post("/tasks", json={"action": "a"})).json()["id"]
        await wait_terminal(client, task_id)
        r = await client.post(f"/tasks/{task_id}/cancel")
        assert r.status_code == 409
        assert r.json()["error"] == f"task {task_id} is already completed"
        missing = await client.post("/tasks/00000000-0000-4000-8000-000000000000/cancel")
        assert missing.status_code == 404


async def test_cancel_a_running_task(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=5000) as client:
        task_id = (await client.post("/tasks", json={"action": "slow"})).json()["id"]
        await wait_status(client, task_id, "running")
        r = await client.post(f"/tasks/{task_id}/cancel")
        assert r.status_code == 202
        assert r.json()["cancel_requested"] is True
        final = await wait_terminal(client, task_id, timeout_s=3)
        assert final["status"] == "cancelled"


async def test_retry_a_failed_task(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=0) as client:
        r = await client.post("/tasks", json={"action": "sum", "data": {"numbers": ["x"]}})
        task_id = r.json()["id"]
        assert (await wait_terminal(client, task_id))["status"] == "failed"
        again = await client.post(f"/tasks/{task_id}/retry")
        assert again.status_code == 202
        assert again.json() == {"id": task_id, "status": "queued"}
        final = await wait_terminal(client, task_id)
        assert (final["status"], final["attempts"], len(final["errors"])) == ("failed", 1, 2)


async def test_retry_refuses_tasks_that_did_not_fail(client: httpx.AsyncClient) -> None:
    task_id = (await client.post("/tasks", json={"action": "a"})).json()["id"]
    r = await client.post(f"/tasks/{task_id}/retry")
    assert r.status_code == 409
    assert r.json()["error"] == "only failed or cancelled tasks can be retried; this one is queued"
    missing = await client.post("/tasks/00000000-0000-4000-8000-000000000000/retry")
    assert missing.status_code == 404
