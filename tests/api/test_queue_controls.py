"""Flow control over HTTP (api/flow.py): pause, resume and PATCH a queue, what GET /queues
shows of it, who may change it, and the 4xx for bad names and bodies. Every answer is
checked against /openapi.json by the client fixture."""

from __future__ import annotations

import httpx
import pytest

from taskq.api.stats_cache import Cached
from taskq.keys import Scope
from taskq.queue import Queue
from taskq.task import MAX_QUEUE_LENGTH


def queue_of(client: httpx.AsyncClient) -> Queue:
    queue: Queue = client.app.state.queue  # type: ignore[attr-defined]
    return queue


async def queues(client: httpx.AsyncClient) -> dict[str, dict[str, object]]:
    """GET /queues by name, computed afresh (the answer is cached for a second)."""
    cached: Cached[object] = client.app.state.stats.queues  # type: ignore[attr-defined]
    cached.ttl_s = 0.0
    response = await client.get("/queues")
    assert response.status_code == 200, response.text
    return {q["name"]: q for q in response.json()["queues"]}


async def test_pause_and_resume_a_queue_without_tasks(client: httpx.AsyncClient) -> None:
    paused = await client.post("/queues/mail/pause")
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert (body["name"], body["paused"], body["concurrency"]) == ("mail", True, None)
    assert body["updated_at"].endswith("Z")
    assert (await queues(client))["mail"]["paused"] is True
    assert (await queue_of(client).queue_settings())["mail"].paused

    resumed = await client.post("/queues/mail/resume")
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False
    listed = (await queues(client))["mail"]
    assert (listed["paused"], listed["concurrency"]) == (False, None)
    assert listed["counts"]["queued"] == 0


async def test_patch_sets_and_clears_concurrency_and_keeps_what_is_left_out(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/tasks", json={"action": "uppercase", "queue": "mail", "data": {}})
    limited = await client.patch("/queues/mail", json={"concurrency": 3})
    assert limited.status_code == 200, limited.text
    assert (limited.json()["paused"], limited.json()["concurrency"]) == (False, 3)
    both = await client.patch("/queues/mail", json={"paused": True})
    assert (both.json()["paused"], both.json()["concurrency"]) == (True, 3)
    listed = (await queues(client))["mail"]
    assert (listed["paused"], listed["concurrency"]) == (True, 3)
    assert listed["counts"]["queued"] == 1

    cleared = await client.patch("/queues/mail", json={"concurrency": None, "paused": False})
    assert (cleared.json()["paused"], cleared.json()["concurrency"]) == (False, None)
    listed = (await queues(client))["mail"]
    assert (listed["paused"], listed["concurrency"]) == (False, None)


async def test_patch_sets_and_clears_a_rate_limit(client: httpx.AsyncClient) -> None:
    rated = await client.patch("/queues/api", json={"rate_limit": "10/min"})
    assert rated.status_code == 200, rated.text
    assert (rated.json()["rate_limit"], rated.json()["concurrency"]) == ("10/min", None)
    assert (await queues(client))["api"]["rate_limit"] == "10/min"
    # written as it is kept: 60 per 60 s is 60/min
    again = await client.patch("/queues/api", json={"rate_limit": " 60 / 60s ", "concurrency": 2})
    assert (again.json()["rate_limit"], again.json()["concurrency"]) == ("60/min", 2)
    cleared = await client.patch("/queues/api", json={"rate_limit": None})
    assert (cleared.json()["rate_limit"], cleared.json()["concurrency"]) == (None, 2)


async def test_patch_sets_a_key_concurrency_and_tasks_carry_their_key(
    client: httpx.AsyncClient,
) -> None:
    set_ = await client.patch("/queues/sync", json={"key_concurrency": 2})
    assert set_.status_code == 200, set_.text
    assert set_.json()["key_concurrency"] == 2
    assert (await queues(client))["sync"]["key_concurrency"] == 2
    submitted = await client.post(
        "/tasks", json={"action": "a", "queue": "sync", "concurrency_key": "customer:7"}
    )
    assert submitted.status_code == 202, submitted.text
    shown = (await client.get(f"/tasks/{submitted.json()['id']}")).json()
    assert shown["concurrency_key"] == "customer:7"
    cleared = await client.patch("/queues/sync", json={"key_concurrency": None})
    assert cleared.json()["key_concurrency"] is None
    bad = await client.post("/tasks", json={"action": "a", "concurrency_key": ""})
    assert bad.status_code == 422
    assert bad.json()["field"] == "concurrency_key"


async def test_a_queue_name_with_escapes_is_the_queue_tasks_use(client: httpx.AsyncClient) -> None:
    response = await client.post("/queues/e-mail%20%C3%A9t%C3%A9/pause")
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "e-mail été"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/queues/{'q' * (MAX_QUEUE_LENGTH + 1)}/pause", "name"),
        ("/queues/a%00b/pause", "name"),
    ],
)
async def test_a_bad_queue_name_is_refused(
    client: httpx.AsyncClient, path: str, field: str
) -> None:
    response = await client.post(path)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert await queue_of(client).queue_settings() == {}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{", 400, None),
        (b"[]", 400, None),
        (b"{}", 422, "body"),
        (b'{"concurrency": 0}', 422, "concurrency"),
        (b'{"concurrency": -1}', 422, "concurrency"),
        (b'{"concurrency": 2147483648}', 422, "concurrency"),
        (b'{"concurrency": 1.5}', 422, "concurrency"),
        (b'{"concurrency": "2"}', 422, "concurrency"),
        (b'{"concurrency": true}', 422, "concurrency"),
        (b'{"paused": 1}', 422, "paused"),
        (b'{"paused": null}', 422, "paused"),
        (b'{"limit": 3}', 422, "limit"),
        (b'{"rate_limit": "fast"}', 422, "rate_limit"),
        (b'{"rate_limit": "0/s"}', 422, "rate_limit"),
        (b'{"rate_limit": "5/2d"}', 422, "rate_limit"),
        (b'{"rate_limit": 5}', 422, "rate_limit"),
        (b'{"key_concurrency": 0}', 422, "key_concurrency"),
    ],
)
async def test_a_bad_patch_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, body: bytes, status: int, field: str | None
) -> None:
    response = await client.patch(
        "/queues/mail", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.json().get("field") == field
    assert await queue_of(client).queue_settings() == {}


async def test_only_an_admin_key_changes_a_queue_and_a_read_key_sees_it(
    client: httpx.AsyncClient,
) -> None:
    keys = queue_of(client).keys
    read = {"Authorization": f"Bearer {await keys.create('reader', Scope.READ)}"}
    submit = {"Authorization": f"Bearer {await keys.create('producer', Scope.SUBMIT)}"}
    admin = {"Authorization": f"Bearer {await keys.create('operator', Scope.ADMIN)}"}
    for headers in (read, submit):
        assert (await client.post("/queues/q/pause", headers=headers)).status_code == 403
        assert (await client.post("/queues/q/resume", headers=headers)).status_code == 403
        patch = await client.patch("/queues/q", json={"concurrency": 1}, headers=headers)
        assert patch.status_code == 403
    assert (await client.post("/queues/q/pause")).status_code == 401
    assert await queue_of(client).queue_settings() == {}

    assert (await client.post("/queues/q/pause", headers=admin)).status_code == 200
    client.app.state.stats.queues.ttl_s = 0.0  # type: ignore[attr-defined]
    listed = await client.get("/queues", headers=read)
    assert listed.status_code == 200
    assert listed.json()["queues"][0]["paused"] is True


async def test_a_cross_site_browser_request_cannot_pause(client: httpx.AsyncClient) -> None:
    response = await client.post("/queues/q/pause", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert await queue_of(client).queue_settings() == {}
