"""Input found from outside to break the service: each gets a clear 4xx, and nothing a
client stored can make a later read fail."""

from __future__ import annotations

import httpx
import pytest

from taskq.api.wire import MAX_DEPTH


def nested(levels: int) -> bytes:
    """A submission whose body nests ``levels`` deep (the body object is level 1)."""
    data = b"[" * (levels - 2) + b"]" * (levels - 2)
    return b'{"action": "x", "data": {"deep": ' + data + b"}}"


@pytest.mark.parametrize(
    "body",
    [
        b'{"action": "x", "delay": 1e300}',
        b'{"action": "x", "run_at": -1e12}',
        b'{"action": "x", "run_at": 1e300}',
        b'{"action": "x", "run_at": "0001-01-01T00:00:00+23:59"}',
        b'{"action": "x", "run_at": "9999-12-31T23:59:59-23:59"}',
        b'{"action": "x", "timeout": 1e300}',
    ],
)
async def test_times_no_date_can_show_are_refused(client: httpx.AsyncClient, body: bytes) -> None:
    r = await client.post("/tasks", content=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] in {"delay", "run_at", "timeout"}
    listing = await client.get("/tasks")
    assert listing.status_code == 200
    assert listing.json()["count"] == 0


async def test_the_extreme_times_still_accepted_read_back(client: httpx.AsyncClient) -> None:
    for run_at in ["1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 0]:
        r = await client.post("/tasks", json={"action": "x", "run_at": run_at})
        assert r.status_code == 202, r.text
        task_id = r.json()["id"]
        assert (await client.get(f"/tasks/{task_id}")).status_code == 200
        assert (await client.post(f"/tasks/{task_id}/cancel")).status_code == 200
    assert (await client.get("/tasks")).json()["count"] == 3


async def test_a_stored_time_out_of_range_does_not_break_reads(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A row written by hand (or by an older taskq) with a time no date can show."""
    task_id = (await client.post("/tasks", json={"action": "x"})).json()["id"]
    await set_run_at(database_url, task_id, 1e300)
    page = await client.get("/tasks")
    assert page.status_code == 200
    assert page.json()["tasks"][0]["run_at"] == "9999-12-31T23:59:59.999999Z"
    assert (await client.get(f"/tasks/{task_id}")).status_code == 200
    cancelled = await client.post(f"/tasks/{task_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"


async def set_run_at(database_url: str, task_id: str, run_at: float) -> None:
    if database_url.startswith("memory://"):
        from taskq.drivers import memory

        memory.stores[database_url].rows[task_id].task.run_at = run_at
        return
    if database_url.startswith("postgresql"):
        import psycopg

        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as c:
            await c.execute("UPDATE taskq_tasks SET run_at = %s WHERE id = %s", (run_at, task_id))
        return
    import sqlite3

    with sqlite3.connect(database_url) as conn:
        conn.execute("UPDATE tasks SET run_at = ? WHERE id = ?", (run_at, task_id))


@pytest.mark.parametrize(
    "body",
    [b'{"action": "\xff"}', b'{"action": "x", "data": {"t": "\xc3\x28"}}', b"\xed\xa0\x80"],
)
async def test_invalid_utf8_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    r = await client.post("/tasks", content=body)
    assert (r.status_code, r.json()) == (400, {"error": "invalid JSON"})


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 1000, 100_000])
async def test_json_nested_too_deep_is_400(client: httpx.AsyncClient, levels: int) -> None:
    r = await client.post("/tasks", content=nested(levels))
    assert r.status_code == 400, r.text
    assert r.json() == {"error": f"JSON nested deeper than {MAX_DEPTH} levels"}
    assert (await client.get("/tasks")).json()["count"] == 0


async def test_json_nested_to_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/tasks", content=nested(MAX_DEPTH))
    assert r.status_code == 202, r.text
    task = (await client.get(f"/tasks/{r.json()['id']}")).json()
    assert task["status"] == "queued"


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("cursor=18446744073709551616", "cursor is not valid"),
        ("cursor=99999999999999999999999999", "cursor must be an integer"),
        ("cursor=9223372036854775808", "cursor is not valid"),
        ("limit=5_0", "limit must be an integer"),
        ("limit=%D9%A5", "limit must be an integer"),  # an Arabic-Indic five
        ("limit=%205", "limit must be an integer"),
        ("limit=+5", "limit must be an integer"),
        ("cursor=1_0", "cursor must be an integer"),
    ],
)
async def test_list_parameters_are_plain_bounded_integers(
    client: httpx.AsyncClient, query: str, error: str
) -> None:
    r = await client.get(f"/tasks?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error


async def test_the_largest_cursor_is_an_empty_page(client: httpx.AsyncClient) -> None:
    await client.post("/tasks", json={"action": "x"})
    r = await client.get("/tasks?cursor=9223372036854775807")
    assert r.status_code == 200
    assert r.json()["count"] == 1


async def test_openapi_documents_every_route_and_answer(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths["/tasks/{task_id}/cancel"]["post"]["responses"]) >= {"200", "202", "409"}
    assert set(paths["/tasks/{task_id}/retry"]["post"]["responses"]) >= {"202", "409"}
    submit = paths["/tasks"]["post"]
    assert set(submit["responses"]) >= {"200", "202", "400", "409", "413", "422", "503"}
    assert [p["name"] for p in submit["parameters"]] == ["Idempotency-Key"]
    schemas = spec["components"]["schemas"]
    assert "cancel_requested" in schemas["TaskOut"]["required"]
    submission = schemas["Submission"]
    assert submission["additionalProperties"] is False
    assert submission["properties"]["priority"]["maximum"] == 2**31 - 1
