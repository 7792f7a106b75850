"""POST /tasks: the seed's contract, and a clear 4xx for every bad input."""

from __future__ import annotations

import uuid

import httpx
import pytest
from tests.api.conftest import ClientFactory


async def test_post_answers_202_with_id_and_location(client: httpx.AsyncClient) -> None:
    r = await client.post("/tasks", json={"action": "uppercase", "data": {"text": "hello world"}})
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "queued"
    assert uuid.UUID(body["id"]).version == 7
    assert r.headers["location"] == f"/tasks/{body['id']}"


async def test_accepted_task_is_visible_at_once(client: httpx.AsyncClient) -> None:
    r = await client.post("/tasks", json={"action": "sum", "data": {"numbers": [1, 2]}})
    task = (await client.get(r.headers["location"])).json()
    assert task["status"] == "queued"
    assert task["action"] == "sum"
    assert task["payload"] == {"numbers": [1, 2]}
    assert task["attempts"] == 0
    assert task["created_at"].endswith("Z")
    assert task["started_at"] is None


async def test_data_is_optional(client: httpx.AsyncClient) -> None:
    r = await client.post("/tasks", json={"action": "ping"})
    assert r.status_code == 202
    task = (await client.get(r.headers["location"])).json()
    assert task["payload"] == {}


async def test_content_type_is_not_required(client: httpx.AsyncClient) -> None:
    # curl -d sends application/x-www-form-urlencoded unless told otherwise
    r = await client.post(
        "/tasks",
        content=b'{"action": "x"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 202


async def test_options_are_echoed_in_the_task(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/tasks",
        json={
            "action": "x",
            "queue": "emails",
            "priority": 7,
            "max_attempts": 5,
            "timeout": 2.5,
            "run_at": "2030-01-01T00:00:00Z",
        },
    )
    assert r.status_code == 202
    task = (await client.get(r.headers["location"])).json()
    assert (task["queue"], task["priority"], task["max_attempts"], task["timeout"]) == (
        "emails",
        7,
        5,
        2.5,
    )
    assert task["run_at"] == "2030-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "status", "error", "field"),
    [
        (b"{", 400, "invalid JSON", None),
        (b"", 400, "invalid JSON", None),
        (b"\xff\xfe", 400, "invalid JSON", None),
        (b'{"action": "x",}', 400, "invalid JSON", None),
        (b"[1, 2]", 400, "the body must be a JSON object", None),
        (b'"uppercase"', 400, "the body must be a JSON object", None),
        (b"{}", 400, "action required", "action"),
        (b'{"data": {}}', 400, "action required", "action"),
        (b'{"action": null}', 400, "action required", "action"),
        (b'{"action": 5}', 422, "action must be a string", "action"),
        (b'{"action": ["x"]}', 422, "action must be a string", "action"),
        (b'{"action": ""}', 422, "action must be a non-empty string", "action"),
        (b'{"action": "   "}', 422, "action must be a non-empty string", "action"),
        (
            b'{"action": "' + b"a" * 201 + b'"}',
            422,
            "action must be at most 200 characters",
            "action",
        ),
        (b'{"action": "x", "data": [1]}', 422, "data must be a JSON object", "data"),
        (b'{"action": "x", "data": "text"}', 422, "data must be a JSON object", "data"),
        (b'{"action": "x", "extra": 1}', 422, "unknown field: extra", "extra"),
        (b'{"action": "x", "priority": "high"}', 422, "priority must be an integer", "priority"),
        (b'{"action": "x", "priority": true}', 422, "priority must be an integer", "priority"),
        (
            b'{"action": "x", "max_attempts": 0}',
            422,
            "max_attempts must be at least 1",
            "max_attempts",
        ),
        (
            b'{"action": "x", "timeout": -1}',
            422,
            "timeout must be a positive number of seconds",
            "timeout",
        ),
        (b'{"action": "x", "delay": -5}', 422, "delay must not be negative", "delay"),
        (
            b'{"action": "x", "delay": 1, "run_at": 5}',
            422,
            "give delay or run_at, not both",
            "run_at",
        ),
        (
            b'{"action": "x", "run_at": "tomorrow"}',
            422,
            "run_at must be an ISO 8601 timestamp or epoch seconds",
            "run_at",
        ),
        (b'{"action": "x", "queue": ""}', 422, "queue must be 1 to 100 characters", "queue"),
        (
            b'{"action": "x", "priority": 9223372036854775808}',
            422,
            "priority must be between -2147483648 and 2147483647",
            "priority",
        ),
        (
            b'{"action": "x", "priority": -2147483649}',
            422,
            "priority must be between -2147483648 and 2147483647",
            "priority",
        ),
        (
            b'{"action": "x", "max_attempts": 2147483648}',
            422,
            "max_attempts must be at most 2147483647",
            "max_attempts",
        ),
        (b'{"action": "a\\u0000b"}', 422, "action must not contain NUL characters", "action"),
        (
            b'{"action": "x", "data": {"t": "a\\u0000b"}}',
            422,
            "data must not contain NUL characters (\\u0000)",
            "data",
        ),
    ],
)
async def test_bad_input_gets_a_clear_4xx(
    client: httpx.AsyncClient, body: bytes, status: int, error: str, field: str | None
) -> None:
    r = await client.post("/tasks", content=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert r.json().get("field") == field
    assert (await client.get("/tasks")).json()["count"] == 0, "nothing stored"


async def test_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    async with make_client(max_body_bytes=100) as client:
        big = b'{"action": "x", "data": {"blob": "' + b"x" * 200 + b'"}}'
        r = await client.post("/tasks", content=big)
        assert r.status_code == 413
        assert r.json()["error"] == "body larger than 100 bytes"


async def test_streamed_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(10):
            yield b"x" * 50

    async with make_client(max_body_bytes=100) as client:
        r = await client.post("/tasks", content=chunks())
        assert r.status_code == 413


async def test_store_unavailable_is_503(client: httpx.AsyncClient) -> None:
    await client.app.state.queue.close()  # type: ignore[attr-defined]
    r = await client.post("/tasks", json={"action": "x"})
    assert r.status_code == 503
    assert r.json() == {"error": "store unavailable"}
    assert (await client.get("/readyz")).status_code == 503
