"""Unique keys over HTTP: ``unique_key`` in POST /tasks and in each batch item, shown on
the task; on every driver. Every answer is checked against /openapi.json by the client
fixture."""

from __future__ import annotations

import httpx
import pytest

from taskq.task import MAX_UNIQUE_KEY


async def test_a_held_key_answers_the_holder_with_200(client: httpx.AsyncClient) -> None:
    first = await client.post("/tasks", json={"action": "sync", "unique_key": "customer:7"})
    assert first.status_code == 202, first.text
    again = await client.post(
        "/tasks", json={"action": "sync", "data": {"x": 1}, "unique_key": "customer:7"}
    )
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == f"/tasks/{first.json()['id']}"
    shown = (await client.get(f"/tasks/{first.json()['id']}")).json()
    assert shown["unique_key"] == "customer:7"
    plain = (await client.post("/tasks", json={"action": "sync"})).json()
    assert (await client.get(f"/tasks/{plain['id']}")).json()["unique_key"] is None


async def test_a_batch_answers_a_held_key_with_the_holder_not_created(
    client: httpx.AsyncClient,
) -> None:
    held = (await client.post("/tasks", json={"action": "a", "unique_key": "k1"})).json()
    items = [
        {"action": "a", "unique_key": "k1"},
        {"action": "a", "unique_key": "k2"},
        {"action": "a", "unique_key": "k2"},
    ]
    r = await client.post("/tasks/batch", json={"tasks": items})
    assert r.status_code == 202, r.text
    answered = r.json()["tasks"]
    assert (answered[0]["id"], answered[0]["created"]) == (held["id"], False)
    assert answered[1]["created"] is True
    assert (answered[2]["id"], answered[2]["created"]) == (answered[1]["id"], False)


@pytest.mark.parametrize("key", ["", "k" * (MAX_UNIQUE_KEY + 1), 7, "nul\u0000"])
async def test_a_bad_unique_key_is_a_422_naming_it(client: httpx.AsyncClient, key: object) -> None:
    r = await client.post("/tasks", json={"action": "a", "unique_key": key})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "unique_key"
    assert "unique_key" in r.json()["error"]


async def test_retrying_an_older_holder_by_hand_is_a_409(client: httpx.AsyncClient) -> None:
    old = (await client.post("/tasks", json={"action": "a", "unique_key": "k"})).json()
    assert (await client.post(f"/tasks/{old['id']}/cancel")).status_code == 200
    await client.post("/tasks", json={"action": "a", "unique_key": "k"})
    r = await client.post(f"/tasks/{old['id']}/retry")
    assert r.status_code == 409, r.text
    assert "later task took unique key" in r.json()["error"]
