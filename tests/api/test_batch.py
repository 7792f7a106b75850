"""POST /tasks/batch: many tasks in one commit, each read as POST /tasks reads one, on every
driver. Every answer is checked against /openapi.json by the client fixture."""

from __future__ import annotations

from typing import Any

import httpx

from taskq.api.wire import MAX_BATCH
from taskq.keys import Scope
from taskq.queue import Queue


def queue_of(client: httpx.AsyncClient) -> Queue:
    queue: Queue = client.app.state.queue  # type: ignore[attr-defined]
    return queue


async def stored_count(client: httpx.AsyncClient) -> int:
    return sum((await queue_of(client).counts()).values())


async def batch(client: httpx.AsyncClient, tasks: Any, **kw: Any) -> httpx.Response:
    return await client.post("/tasks/batch", json={"tasks": tasks}, **kw)


async def test_a_batch_is_stored_and_answered_in_order(client: httpx.AsyncClient) -> None:
    items = [
        {"action": "uppercase", "data": {"text": "a"}},
        {"action": "sum", "data": {"numbers": [1, 2]}, "queue": "q2", "priority": 5},
        {"action": "later", "delay": 3600, "max_attempts": 2, "timeout": 5},
    ]
    r = await batch(client, items)
    assert r.status_code == 202, r.text
    answered = r.json()["tasks"]
    assert [(t["status"], t["created"]) for t in answered] == [("queued", True)] * 3
    for item, out in zip(items, answered, strict=True):
        task = (await client.get(f"/tasks/{out['id']}")).json()
        assert (task["action"], task["queue"]) == (item["action"], item.get("queue", "default"))
    assert [t["id"] for t in (await client.get("/tasks")).json()["tasks"]] == [
        t["id"] for t in reversed(answered)
    ], "stored in the order given (seq)"


async def test_one_bad_item_refuses_the_whole_batch_naming_its_index(
    client: httpx.AsyncClient,
) -> None:
    good = {"action": "a"}
    cases: list[tuple[Any, str, str]] = [
        ({"action": 5}, "tasks[2].action", "action must be a string"),
        ({"data": {}}, "tasks[2].action", "action required"),
        ({"action": "a", "priority": 2**40}, "tasks[2].priority", "priority must be between"),
        ({"action": "a", "nope": 1}, "tasks[2].nope", "unknown field: nope"),
        ({"action": "a", "delay": 1, "run_at": 5}, "tasks[2].run_at", "delay or run_at"),
        ({"action": "a\x00b"}, "tasks[2].action", "NUL"),  # task.validate, at enqueue
        ({"action": "a", "idempotency_key": ""}, "tasks[2].idempotency_key", "1 to 200"),
        ({"action": "a", "idempotency_key": "k" * 201}, "tasks[2].idempotency_key", "1 to 200"),
        ({"action": "a", "idempotency_key": 7}, "tasks[2].idempotency_key", "1 to 200"),
        ("a", "tasks[2]", "must be a JSON object"),
    ]
    for bad, field, says in cases:
        r = await batch(client, [good, good, bad, good])
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["field"] == field, (bad, r.text)
        assert says in r.json()["error"], r.text
        assert "tasks[2]" in r.json()["error"], r.text
    assert await stored_count(client) == 0, "nothing of a refused batch is stored"


async def test_the_batch_itself_must_hold_1_to_1000_tasks(client: httpx.AsyncClient) -> None:
    for tasks in ([], [{"action": "a"}] * (MAX_BATCH + 1), {"action": "a"}, None):
        r = await batch(client, tasks)
        assert (r.status_code, r.json()["field"]) == (422, "tasks"), r.text
    r = await client.post("/tasks/batch", json={"tasks": [{"action": "a"}], "more": 1})
    assert (r.status_code, r.json()["field"]) == (422, "more")
    assert (await client.post("/tasks/batch", json=[{"action": "a"}])).status_code == 400
    assert (await client.post("/tasks/batch", content=b"{")).status_code == 400
    r = await batch(client, [{"action": "a"}] * MAX_BATCH)
    assert r.status_code == 202
    assert await stored_count(client) == MAX_BATCH


async def test_the_body_limit_applies_to_the_whole_batch(client: httpx.AsyncClient) -> None:
    item = {"action": "a", "data": {"text": "x" * 2000}}
    r = await batch(client, [item] * 600)  # about 1.2 MB
    assert r.status_code == 413, r.text
    assert await stored_count(client) == 0


async def test_resubmitting_a_keyed_batch_creates_nothing_new(client: httpx.AsyncClient) -> None:
    items = [{"action": "a", "idempotency_key": f"k{i}", "data": {"i": i}} for i in range(3)]
    first = await batch(client, items)
    assert [t["created"] for t in first.json()["tasks"]] == [True] * 3
    # the same body with its keys in another order is the same request
    again = await batch(
        client, [{"data": {"i": 0}, "idempotency_key": "k0", "action": "a"}, *items[1:]]
    )
    assert again.status_code == 202
    assert again.json()["tasks"] == [{**t, "created": False} for t in first.json()["tasks"]]
    mixed = await batch(client, [items[1], {"action": "a"}])
    assert [t["created"] for t in mixed.json()["tasks"]] == [False, True]
    assert await stored_count(client) == 4


async def test_an_item_key_means_what_the_idempotency_key_header_means(
    client: httpx.AsyncClient,
) -> None:
    body = {"action": "a", "data": {"x": 1}}
    single = await client.post("/tasks", json=body, headers={"Idempotency-Key": "one"})
    r = await batch(client, [{**body, "idempotency_key": "one"}])
    assert r.json()["tasks"] == [{"id": single.json()["id"], "status": "queued", "created": False}]
    again = await client.post("/tasks", json=body, headers={"Idempotency-Key": "two"})
    assert again.status_code == 202
    (second,) = (await batch(client, [{**body, "idempotency_key": "two"}])).json()["tasks"]
    assert (second["id"], second["created"]) == (again.json()["id"], False)


async def test_a_key_used_for_another_body_is_a_409_naming_the_index_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    await batch(client, [{"action": "a", "idempotency_key": "taken"}])
    r = await batch(
        client,
        [{"action": "new"}, {"action": "other", "idempotency_key": "taken"}, {"action": "b"}],
    )
    assert r.status_code == 409, r.text
    assert r.json()["field"] == "tasks[1].idempotency_key"
    assert "tasks[1]" in r.json()["error"]
    assert await stored_count(client) == 1, "nothing of the refused batch was stored"
    twice = [{"action": "x", "idempotency_key": "dup"}, {"action": "y", "idempotency_key": "dup"}]
    r = await batch(client, twice)
    assert (r.status_code, r.json()["field"]) == (409, "tasks[1].idempotency_key")
    same = [{"action": "x", "idempotency_key": "dup"}] * 2
    first, second = (await batch(client, same)).json()["tasks"]
    assert (first["id"], first["created"], second["created"]) == (second["id"], True, False)
    assert await stored_count(client) == 2


async def test_a_submit_key_may_send_a_batch_and_a_read_key_may_not(
    client: httpx.AsyncClient,
) -> None:
    keys = queue_of(client).keys
    submit, read = await keys.create("s", Scope.SUBMIT), await keys.create("r", Scope.READ)
    items = [{"action": "a"}]
    assert (await batch(client, items)).status_code == 401
    r = await batch(client, items, headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 403
    assert "submit" in r.json()["error"]
    r = await batch(client, items, headers={"Authorization": f"Bearer {submit}"})
    assert r.status_code == 202
