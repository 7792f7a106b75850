"""GET /tasks, GET /tasks/{id}, health, OpenAPI and docs."""

from __future__ import annotations

import httpx
import pytest

from taskq.queue import Queue
from taskq.task import NewTask


async def post(client: httpx.AsyncClient, action: str = "x") -> str:
    r = await client.post("/tasks", json={"action": action})
    assert r.status_code == 202
    return str(r.json()["id"])


async def test_list_is_newest_first_with_count(client: httpx.AsyncClient) -> None:
    ids = [await post(client) for _ in range(3)]
    body = (await client.get("/tasks")).json()
    assert body["count"] == 3
    assert [t["id"] for t in body["tasks"]] == ids[::-1]
    assert body["next_cursor"] is None


async def test_list_defaults_to_100_and_pages_with_a_cursor(
    client: httpx.AsyncClient, database_url: str
) -> None:
    async with Queue.connect(database_url) as queue:
        await queue.enqueue_many([NewTask(action="bulk") for _ in range(250)])
    first = (await client.get("/tasks")).json()
    assert first["count"] == 100
    seen = [t["id"] for t in first["tasks"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get("/tasks", params={"cursor": cursor, "limit": 100})).json()
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 250


async def test_list_filters_by_status_and_action(client: httpx.AsyncClient) -> None:
    a = await post(client, "a")
    await post(client, "b")
    assert [t["id"] for t in (await client.get("/tasks?action=a")).json()["tasks"]] == [a]
    assert (await client.get("/tasks?status=queued")).json()["count"] == 2
    assert (await client.get("/tasks?status=completed")).json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "error"),
    [
        (
            "status=done",
            "unknown status 'done': use one of queued, running, completed, failed, cancelled",
        ),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=1001", "limit must be between 1 and 1000"),
        ("limit=ten", "limit must be an integer"),
        ("cursor=abc", "cursor must be an integer"),
        ("cursor=-4", "cursor is not valid"),
    ],
)
async def test_bad_list_query_is_400(client: httpx.AsyncClient, query: str, error: str) -> None:
    r = await client.get(f"/tasks?{query}")
    assert r.status_code == 400
    assert r.json()["error"] == error


async def test_unknown_task_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/tasks/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404
    assert r.json() == {"error": "task not found"}
    assert (await client.get("/tasks/not-a-uuid")).status_code == 404


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere")
    assert (r.status_code, r.json()) == (404, {"error": "Not Found"})
    r = await client.delete("/tasks")
    assert (r.status_code, r.json()) == (405, {"error": "Method Not Allowed"})


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_openapi_and_docs_are_served_without_the_internet(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert {"/tasks", "/tasks/{task_id}", "/healthz", "/readyz"} <= set(spec["paths"])
    page = (await client.get("/docs")).text
    assert "/docs/static/swagger-ui-bundle.js" in page
    assert "http" not in page.replace('"/openapi.json"', "")
    js = await client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200
    assert len(js.content) > 100_000
