"""Tasks by id in every filter: GET /tasks?id=… and a bulk action's ``filter.id``, on every
driver (the dashboard acts on the rows it selected in one call)."""

from __future__ import annotations

import httpx

from taskq.filters import MAX_FILTER_VALUES

UNKNOWN = "0000000a-0000-4000-8000-00000000000b"


async def post(client: httpx.AsyncClient, action: str = "a") -> str:
    r = await client.post("/tasks", json={"action": action})
    assert r.status_code == 202
    return str(r.json()["id"])


async def listed(client: httpx.AsyncClient, query: str) -> list[str]:
    r = await client.get(f"/tasks?{query}")
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["tasks"]]


async def test_list_by_ids_returns_those_tasks_newest_first(client: httpx.AsyncClient) -> None:
    a, b, c = [await post(client, action) for action in ("a", "b", "a")]
    assert await listed(client, f"id={b}") == [b]
    assert await listed(client, f"id={a}&id={c}&id={UNKNOWN}") == [c, a]
    assert await listed(client, f"id={a}&id={b}&action=b") == [b], "with the other filters"
    empty = await client.get("/tasks?id=&action=b")
    assert empty.status_code == 400, "no task has the empty id: the document's format says so"


async def test_a_bulk_action_by_ids_changes_only_those_tasks(client: httpx.AsyncClient) -> None:
    a, b, c = [await post(client) for _ in range(3)]
    r = await client.post("/tasks/bulk/cancel", json={"filter": {"id": [a, c]}})
    assert r.json() == {"changed": 2, "more": False}
    assert await listed(client, "status=cancelled") == [c, a]
    r = await client.post(
        "/tasks/bulk/delete", json={"filter": {"id": [a, b], "status": ["cancelled"]}}
    )
    assert r.json() == {"changed": 1, "more": False}
    assert await listed(client, "") == [c, b]


async def test_a_bad_id_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    for bad in ("nope", UNKNOWN.upper(), UNKNOWN + "0"):
        r = await client.get("/tasks", params={"id": bad})
        assert (r.status_code, r.json()["field"]) == (400, "id"), r.text
        assert "UUID" in r.json()["error"]
        r = await client.post("/tasks/bulk/retry", json={"filter": {"id": [bad]}})
        assert (r.status_code, r.json()["field"]) == (422, "filter.id"), r.text
    too_many = [UNKNOWN] * (MAX_FILTER_VALUES + 1)
    r = await client.get("/tasks", params={"id": too_many})
    assert (r.status_code, r.json()["field"]) == (400, "id")
    for body in ({"filter": {"id": []}}, {"filter": {"id": [7]}}, {"filter": {"id": UNKNOWN}}):
        r = await client.post("/tasks/bulk/cancel", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["field"].startswith("filter.id"), r.text
