"""Requests a browser sends from another site are refused; curl and programs are not.

Each test pairs what must pass with what must be refused, so each fails without the
middleware.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from taskq.api.origin import CrossOriginProtection

FOREIGN = {"Origin": "http://evil.example"}
# what a page's fetch("http://localhost:8080/tasks", {method: "POST", body}) sends: no preflight
SIMPLE_CROSS_SITE = {
    "Origin": "http://evil.example",
    "Sec-Fetch-Site": "cross-site",
    "Content-Type": "text/plain;charset=UTF-8",
}
TASK = b'{"action": "uppercase", "data": {"text": "hi"}}'
REFUSED = {"error": "cross-origin request refused"}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == REFUSED


async def count_tasks(client: httpx.AsyncClient) -> int:
    count: int = (await client.get("/tasks")).json()["count"]
    return count


async def submit(client: httpx.AsyncClient) -> str:
    response = await client.post("/tasks", content=TASK)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


async def status_of(client: httpx.AsyncClient, task_id: str) -> str:
    status: str = (await client.get(f"/tasks/{task_id}")).json()["status"]
    return status


async def test_text_plain_post_from_a_foreign_origin_is_refused_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/tasks", content=TASK, headers={**FOREIGN, "Content-Type": "text/plain"})
    assert_refused(r)
    assert await count_tasks(client) == 0, "a refused submission stored a task"


async def test_the_full_headers_of_a_browsers_simple_cross_site_post_are_refused(
    client: httpx.AsyncClient,
) -> None:
    assert_refused(await client.post("/tasks", content=TASK, headers=SIMPLE_CROSS_SITE))
    assert await count_tasks(client) == 0


@pytest.mark.parametrize("site", ["cross-site", "same-site", "Cross-Site", "unknown-value"])
async def test_sec_fetch_site_other_than_same_origin_or_none_is_refused(
    client: httpx.AsyncClient, site: str
) -> None:
    # no Origin at all: Sec-Fetch-Site alone is enough to refuse
    assert_refused(await client.post("/tasks", content=TASK, headers={"Sec-Fetch-Site": site}))
    assert await count_tasks(client) == 0


@pytest.mark.parametrize("site", ["same-origin", "none"])
async def test_sec_fetch_site_same_origin_or_none_is_accepted(
    client: httpx.AsyncClient, site: str
) -> None:
    r = await client.post("/tasks", content=TASK, headers={"Sec-Fetch-Site": site})
    assert r.status_code == 202, r.text
    assert_refused(
        await client.post("/tasks", content=TASK, headers={"Sec-Fetch-Site": "cross-site"})
    )
    assert await count_tasks(client) == 1


async def test_a_browsers_same_origin_word_wins_over_a_host_a_proxy_rewrote(
    client: httpx.AsyncClient,
) -> None:
    """Behind a reverse proxy the Host header may differ from the page's origin: a browser
    that says ``Sec-Fetch-Site: same-origin`` is believed (as Go's protection does)."""
    behind_proxy = {"Origin": "https://taskq.example.com", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/tasks", content=TASK, headers=behind_proxy)).status_code == 202
    old_browser = {"Origin": "https://taskq.example.com"}  # no Sec-Fetch-Site: Origin decides
    assert_refused(await client.post("/tasks", content=TASK, headers=old_browser))


async def test_cancel_from_a_foreign_origin_is_refused_and_the_task_stays_queued(
    client: httpx.AsyncClient,
) -> None:
    task_id = await submit(client)
    assert_refused(await client.post(f"/tasks/{task_id}/cancel", headers=SIMPLE_CROSS_SITE))
    assert_refused(await client.post(f"/tasks/{task_id}/cancel", headers=FOREIGN))
    assert await status_of(client, task_id) == "queued"


async def test_retry_from_a_foreign_origin_is_refused_and_the_task_stays_cancelled(
    client: httpx.AsyncClient,
) -> None:
    task_id = await submit(client)
    assert (await client.post(f"/tasks/{task_id}/cancel")).status_code == 200
    assert_refused(await client.post(f"/tasks/{task_id}/retry", headers=SIMPLE_CROSS_SITE))
    assert_refused(await client.post(f"/tasks/{task_id}/retry", headers=FOREIGN))
    assert await status_of(client, task_id) == "cancelled"
    assert (await client.post(f"/tasks/{task_id}/retry")).status_code == 202, "not refused"


@pytest.mark.parametrize("origin", ["http://taskq", "http://TaskQ", "http://taskq:80"])
async def test_a_post_from_the_services_own_origin_is_accepted(
    client: httpx.AsyncClient, origin: str
) -> None:
    r = await client.post("/tasks", content=TASK, headers={"Origin": origin})
    assert r.status_code == 202, r.text
    # the same host on another port is another origin
    assert_refused(await client.post("/tasks", content=TASK, headers={"Origin": "http://taskq:81"}))
    assert await count_tasks(client) == 1


@pytest.mark.parametrize(
    "origin",
    [
        "https://taskq",  # another scheme
        "http://taskq:8080",  # another port
        "http://taskq.evil.example",
        "null",  # sandboxed iframes, file:// pages, some redirects
        "http://taskq/path",  # not an origin
        "http://user@taskq",
        "http://[::1",
        "",
    ],
)
async def test_an_origin_that_is_not_exactly_the_services_own_is_refused(
    client: httpx.AsyncClient, origin: str
) -> None:
    assert_refused(await client.post("/tasks", content=TASK, headers={"Origin": origin}))
    assert await count_tasks(client) == 0


async def test_curl_d_without_origin_is_accepted_with_it_refused(
    client: httpx.AsyncClient,
) -> None:
    # `curl -d '{"action": ...}' URL` sends the JSON as a form and no Origin
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r = await client.post("/tasks", content=TASK, headers=form)
    assert r.status_code == 202, r.text
    # the same request is what an HTML <form> on another site sends, with its Origin
    assert_refused(await client.post("/tasks", content=TASK, headers={**form, **FOREIGN}))
    assert await count_tasks(client) == 1


async def test_reads_from_a_foreign_origin_are_untouched(client: httpx.AsyncClient) -> None:
    task_id = await submit(client)
    for path in ("/tasks", f"/tasks/{task_id}", "/healthz"):
        r = await client.get(path, headers=SIMPLE_CROSS_SITE)
        assert r.status_code == 200, (path, r.text)
    assert (await client.head("/healthz", headers=FOREIGN)).status_code == 200
    assert_refused(await client.post("/tasks", content=TASK, headers=SIMPLE_CROSS_SITE))


class Recorder:
    """A tiny ASGI app that answers 204 and records whether it ran and read the body."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_allowed_origins_pass_others_are_still_refused() -> None:
    inner = Recorder()
    app = CrossOriginProtection(inner, allowed_origins=["https://dashboard.example"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://taskq") as client:
        allowed = {"Origin": "https://dashboard.example", "Sec-Fetch-Site": "cross-site"}
        assert (await client.post("/tasks", content=TASK, headers=allowed)).status_code == 204
        assert inner.calls == 1
        for origin in ("http://dashboard.example", "https://dashboard.example:8443"):
            r = await client.post("/tasks", content=TASK, headers={"Origin": origin})
            assert_refused(r)
        assert_refused(await client.post("/tasks", content=TASK, headers=SIMPLE_CROSS_SITE))
        assert inner.calls == 1, "a refused request reached the app"


def test_an_allowed_origin_must_be_an_origin() -> None:
    with pytest.raises(ValueError, match="not an origin"):
        CrossOriginProtection(Recorder(), allowed_origins=["dashboard.example"])


async def test_a_refused_request_reaches_neither_the_app_nor_its_body() -> None:
    inner = Recorder()
    body_reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal body_reads
        body_reads += 1
        return {"type": "http.request", "body": TASK, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    def scope(origin: bytes) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/tasks",
            "raw_path": b"/tasks",
            "query_string": b"",
            "headers": [(b"host", b"localhost:8080"), (b"origin", origin)],
        }

    await CrossOriginProtection(inner)(scope(b"http://evil.example"), receive, send)
    assert (inner.calls, body_reads) == (0, 0)
    assert sent[0]["status"] == 403
    await CrossOriginProtection(inner)(scope(b"http://localhost:8080"), receive, send)
    assert inner.calls == 1
    assert sent[-2]["status"] == 204
