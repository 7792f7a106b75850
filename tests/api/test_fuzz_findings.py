"""What schemathesis (.ci/fuzz) found, each kept as a regression test: the service must
answer as its OpenAPI document says, also for requests at the document's edges."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/tasks", "GET, HEAD, POST"),
        ("OPTIONS", "/tasks/0", "DELETE, GET, HEAD"),
        ("TRACE", "/workers", "GET, HEAD"),
        ("PATCH", "/session", "DELETE, GET, HEAD, POST"),
        # a fixed path beside a pattern it also matches: only the fixed path's methods
        ("OPTIONS", "/tasks/batch", "POST"),
    ],
)
async def test_a_method_not_allowed_names_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    r = await client.request(method, path)
    assert r.status_code == 405
    assert r.headers["allow"] == allowed, "each method has a route of its own: all are named"
    assert r.json() == {"error": "Method Not Allowed"}


async def test_a_bulk_action_refuses_a_filter_beside_all_even_an_empty_one(
    client: httpx.AsyncClient,
) -> None:
    for body in ({"filter": {}, "all": True}, {"filter": {"queue": ["q"]}, "all": True}):
        r = await client.post("/tasks/bulk/retry", json=body)
        assert r.status_code == 422, body
        assert r.json()["field"] == "all"


async def test_the_document_says_how_a_bulk_body_names_its_tasks(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert schemas["FilterIn"]["minProperties"] == 1
    assert len(schemas["BulkRequest"]["oneOf"]) == 2


@pytest.mark.parametrize("query", ["cursor=", "q=", "action=", "queue="])
async def test_an_empty_list_parameter_is_unset(client: httpx.AsyncClient, query: str) -> None:
    await client.post("/tasks", json={"action": "a"})
    r = await client.get(f"/tasks?{query}")
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 1


@pytest.mark.parametrize("name", ["status", "id"])
async def test_an_empty_status_or_id_is_refused_as_the_document_constrains_them(
    client: httpx.AsyncClient, name: str
) -> None:
    r = await client.get(f"/tasks?{name}=")
    assert r.status_code == 400
    assert r.json()["field"] == name
