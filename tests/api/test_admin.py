"""The admin API: GET /tasks filters, DELETE /tasks/{id}, and the bulk actions."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from taskq.queue import Queue
from taskq.task import AttemptError

VALID = "use one of queued, running, completed, failed, cancelled"


def queue_of(client: httpx.AsyncClient) -> Queue:
    queue: Queue = client.app.state.queue  # type: ignore[attr-defined]
    return queue


async def post(client: httpx.AsyncClient, action: str = "a", **fields: Any) -> str:
    r = await client.post("/tasks", json={"action": action, **fields})
    assert r.status_code == 202
    return str(r.json()["id"])


async def fail(client: httpx.AsyncClient, task_id: str, error: str = "boom") -> None:
    """Fail a queued task as a worker would (the next ready one must be ``task_id``)."""
    driver, now = queue_of(client).driver, time.time()
    (task,) = await driver.claim("w", 1, queues=None, lease_s=30, now=now, start=1)
    assert task.id == task_id
    assert await driver.fail(task_id, "w", AttemptError(1, error, now), now=now)


async def listed(client: httpx.AsyncClient, query: str) -> list[str]:
    r = await client.get(f"/tasks?{query}")
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["tasks"]]


async def test_list_filters_by_several_statuses_queues_and_actions(
    client: httpx.AsyncClient,
) -> None:
    a = await post(client, "a", queue="q1")
    b = await post(client, "b", queue="q2")
    c = await post(client, "c", queue="q3")
    await client.post(f"/tasks/{b}/cancel")
    assert await listed(client, "status=queued&status=cancelled") == [c, b, a]
    assert await listed(client, "status=cancelled") == [b]
    assert await listed(client, "queue=q1&queue=q3") == [c, a]
    assert await listed(client, "action=a&action=b&queue=q2") == [b]
    assert await listed(client, "action=a&status=cancelled") == []
    assert await listed(client, "action=") == [c, b, a], "an empty value is unset"
    r = await client.get("/tasks?status=")
    assert r.status_code == 400, "no status is named '': the document's enum says so"
    assert r.json()["field"] == "status"


async def test_list_filters_by_creation_time(client: httpx.AsyncClient) -> None:
    before = time.time() - 1
    a = await post(client)
    assert await listed(client, f"created_after={before}") == [a]
    assert await listed(client, f"created_before={int(before)}") == []
    assert await listed(client, "created_after=2000-01-01T00:00:00") == [a]
    assert await listed(client, "created_before=2000-01-01T00:00:00%2B02:00") == []


async def test_list_searches_the_error_text(client: httpx.AsyncClient) -> None:
    plain = await post(client)
    percent = await post(client)
    await fail(client, plain, "disk 1000 full")
    await fail(client, percent, "Disk 100% full")
    assert await listed(client, "q=DISK") == [percent, plain]
    assert await listed(client, "q=0%25") == [percent]
    assert await listed(client, "q=disk_") == []


@pytest.mark.parametrize(
    ("query", "field", "error"),
    [
        ("status=queued&status=done", "status", f"unknown status 'done': {VALID}"),
        ("queue=" + "q" * 101, "queue", "queue must be 1 to 100 characters"),
        ("action=" + "a" * 201, "action", "action must be 1 to 200 characters"),
        ("created_after=yesterday", "created_after", "created_after must be an ISO 8601"),
        ("created_before=-5", "created_before", "created_before must fall between 1970"),
        ("created_after=10000-01-01", "created_after", "created_after must be an ISO 8601"),
        ("q=" + "x" * 201, "q", "q must be 1 to 200 characters"),
        ("&".join(["queue=q"] * 101), "queue", "at most 100 values of queue"),
    ],
)
async def test_a_bad_filter_is_400_naming_the_parameter(
    client: httpx.AsyncClient, query: str, field: str, error: str
) -> None:
    r = await client.get(f"/tasks?{query}")
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert r.json()["error"].startswith(error)


async def test_delete_a_finished_task(client: httpx.AsyncClient) -> None:
    task_id = await post(client)
    await client.post(f"/tasks/{task_id}/cancel")
    r = await client.delete(f"/tasks/{task_id}")
    assert r.status_code == 200
    assert r.json() == {"id": task_id, "deleted": True}
    assert (await client.get(f"/tasks/{task_id}")).status_code == 404
    assert (await client.delete(f"/tasks/{task_id}")).status_code == 404


async def test_delete_refuses_a_queued_task_and_unknown_ids(client: httpx.AsyncClient) -> None:
    task_id = await post(client)
    r = await client.delete(f"/tasks/{task_id}")
    assert r.status_code == 409
    assert "is queued: only a finished task can be deleted" in r.json()["error"]
    assert (await client.get(f"/tasks/{task_id}")).status_code == 200
    assert (await client.delete("/tasks/not-a-task")).status_code == 404


async def test_bulk_retry_requeues_matching_failed_tasks(client: httpx.AsyncClient) -> None:
    failed = [await post(client, "a") for _ in range(3)]
    for task_id in failed:
        await fail(client, task_id)
    other = await post(client, "b")
    body = {"filter": {"status": ["failed"], "action": ["a"]}, "limit": 2}
    r = await client.post("/tasks/bulk/retry", json=body)
    assert r.status_code == 200
    assert r.json() == {"changed": 2, "more": True}
    assert (await client.post("/tasks/bulk/retry", json=body)).json() == {
        "changed": 1,
        "more": False,
    }
    assert await listed(client, "status=queued") == [other, *failed[::-1]]


async def test_bulk_cancel_takes_a_queue(client: httpx.AsyncClient) -> None:
    mine = [await post(client, queue="mine") for _ in range(2)]
    theirs = await post(client, queue="theirs")
    r = await client.post("/tasks/bulk/cancel", json={"filter": {"queue": ["mine"]}})
    assert r.json() == {"changed": 2, "more": False}
    assert await listed(client, "status=cancelled") == mine[::-1]
    assert await listed(client, "status=queued") == [theirs]


async def test_bulk_delete_with_all_deletes_finished_tasks_only(
    client: httpx.AsyncClient,
) -> None:
    done = await post(client)
    await client.post(f"/tasks/{done}/cancel")
    queued = await post(client)
    r = await client.post("/tasks/bulk/delete", json={"all": True})
    assert r.json() == {"changed": 1, "more": False}
    assert await listed(client, "") == [queued]


@pytest.mark.parametrize("action", ["retry", "cancel", "delete"])
@pytest.mark.parametrize("body", [{}, {"filter": {}}, {"filter": {"status": []}, "limit": 5}])
async def test_a_bulk_action_without_a_filter_needs_all(
    client: httpx.AsyncClient, action: str, body: dict[str, Any]
) -> None:
    await post(client)
    r = await client.post(f"/tasks/bulk/{action}", json=body)
    assert r.status_code == 422
    if body.get("filter") == {"status": []}:  # the document says: at least one
        assert r.json()["field"] == "filter.status"
    else:
        assert r.json() == {
            "error": "give a filter, or all to act on every task",
            "field": "filter",
        }
    assert len(await listed(client, "status=queued")) == 1


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"all": True, "filter": {"queue": ["q"]}}, "all", "give a filter or all, not both"),
        ({"all": True, "limit": 0}, "limit", "limit: expected `int` >= 1"),
        ({"all": True, "limit": 10_001}, "limit", "limit: expected `int` <= 10000"),
        ({"filter": {"status": ["done"]}}, "filter.status", f"unknown status: {VALID}"),
        ({"filter": {"status": "failed"}}, "filter.status", "filter.status: expected `array`"),
        ({"filter": {"colour": ["red"]}}, "filter.colour", "unknown field: colour"),
        ({"filter": {"q": ""}}, "filter.q", "filter.q: expected `str` of length >= 1"),
        ({"filter": {"created_after": "soon"}}, "filter.created_after", "created_after must"),
        ({"filter": {"queue": [""]}}, "filter.queue", "queue must be 1 to 100 characters"),
        ({"all": "yes"}, "all", "all: expected `bool`"),
        ({"everything": True}, "everything", "unknown field: everything"),
    ],
)
async def test_a_bad_bulk_body_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, error: str
) -> None:
    r = await client.post("/tasks/bulk/delete", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert r.json()["error"].startswith(error)


@pytest.mark.parametrize("raw", [b"not json", b"[1]"])
async def test_a_bulk_body_that_is_not_an_object_is_400(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    r = await client.post("/tasks/bulk/cancel", content=raw)
    assert r.status_code == 400


async def test_the_new_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "delete" in paths["/tasks/{task_id}"]
    for action in ("retry", "cancel", "delete"):
        assert set(paths[f"/tasks/bulk/{action}"]["post"]["responses"]) >= {"200", "422"}
    names = {p["name"] for p in paths["/tasks"]["get"]["parameters"]}
    assert names >= {"status", "queue", "action", "created_after", "created_before", "q"}
