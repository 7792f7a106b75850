"""API keys on the HTTP API (taskq/keys.py, api/auth.py, api/session.py), on every driver.

No key stored and a loopback service: anyone is admin. Once a key exists every scoped route
needs one of a sufficient scope (read ⊂ submit ⊂ admin), given as ``Authorization: Bearer``
or as the dashboard's session cookie (whose changes also need the CSRF token). Every answer
is checked against /openapi.json by the client fixture, so the 401s and 403s must be
documented too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.api.conftest import ClientFactory

from taskq.api.auth import SESSION_COOKIE
from taskq.api.session import SESSION_S
from taskq.keys import CACHE_S, Keys, Scope
from taskq.queue import Queue

TASK = {"action": "uppercase", "data": {"text": "hi"}}
CHALLENGE = 'Bearer realm="taskq"'
BULK = {"filter": {"status": ["queued"]}}
# a well-formed key that was never made
UNKNOWN = "tq_" + "A" * 43


def queue_of(client: httpx.AsyncClient) -> Queue:
    queue: Queue = client.app.state.queue  # type: ignore[attr-defined]
    return queue


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_key(client: httpx.AsyncClient, name: str, scope: Scope) -> str:
    return await queue_of(client).keys.create(name, scope)


def assert_unauthenticated(response: httpx.Response, *secrets: str) -> str:
    """A 401 with the challenge, whose error repeats none of ``secrets``; its error."""
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == CHALLENGE
    error: str = response.json()["error"]
    for secret in secrets:
        assert secret not in response.text, "a 401 repeated a key"
        assert secret not in str(response.headers), "a 401's headers repeated a key"
    return error


def assert_forbidden(response: httpx.Response, *secrets: str) -> str:
    assert response.status_code == 403, response.text
    error: str = response.json()["error"]
    for secret in secrets:
        assert secret not in response.text, "a 403 repeated a key"
    return error


async def submit(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    r = await client.post("/tasks", json=TASK, headers=headers)
    assert r.status_code == 202, r.text
    task_id: str = r.json()["id"]
    return task_id


def read_paths(task_id: str) -> list[str]:
    return ["/tasks", "/queues", "/stats", "/workers", "/schedules", f"/tasks/{task_id}"]


async def changes(
    client: httpx.AsyncClient, task_id: str, headers: dict[str, str]
) -> dict[str, httpx.Response]:
    """Every admin change, made with ``headers``: their answers by name."""
    return {
        "cancel": await client.post(f"/tasks/{task_id}/cancel", headers=headers),
        "retry": await client.post(f"/tasks/{task_id}/retry", headers=headers),
        "delete": await client.delete(f"/tasks/{task_id}", headers=headers),
        "bulk retry": await client.post("/tasks/bulk/retry", json=BULK, headers=headers),
        "bulk cancel": await client.post("/tasks/bulk/cancel", json=BULK, headers=headers),
        "bulk delete": await client.post("/tasks/bulk/delete", json=BULK, headers=headers),
    }


@pytest.fixture
async def plain(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app without the conformance check: for the pages that are not
    API operations (the dashboard)."""
    transport = httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://taskq") as c:
        yield c


# No key: loopback serves anyone


async def test_with_no_key_a_loopback_service_serves_anyone_as_admin(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/session")
    assert r.status_code == 200, r.text
    assert r.json() == {"scope": "admin", "via": "anonymous", "csrf_token": None}
    task_id = await submit(client, {})
    assert (await client.get(f"/tasks/{task_id}")).status_code == 200
    assert (await client.post(f"/tasks/{task_id}/cancel")).status_code == 200
    assert (await client.delete(f"/tasks/{task_id}")).status_code == 200


async def test_with_no_key_a_service_beyond_loopback_refuses_and_says_to_create_one(
    make_client: ClientFactory,
) -> None:
    async with make_client(host="0.0.0.0") as client:
        for path in ("/tasks", "/session"):
            error = assert_unauthenticated(await client.get(path))
            assert "taskq keys create" in error, error
        error = assert_unauthenticated(await client.post("/tasks", json=TASK))
        assert "taskq keys create" in error
        assert (await client.get("/healthz")).status_code == 200
        # once a key exists, it is what is needed
        key = await make_key(client, "ops", Scope.ADMIN)
        assert (await client.get("/tasks", headers=bearer(key))).status_code == 200
        error = assert_unauthenticated(await client.get("/tasks"), key)
        assert "taskq keys create" not in error


async def test_allow_anonymous_serves_anyone_beyond_loopback_while_no_key_exists(
    make_client: ClientFactory,
) -> None:
    async with make_client(host="0.0.0.0", allow_anonymous=True) as client:
        r = await client.get("/session")
        assert r.status_code == 200, r.text
        assert r.json()["via"] == "anonymous"
        await submit(client, {})
        key = await make_key(client, "ops", Scope.ADMIN)
        assert_unauthenticated(await client.get("/tasks"), key)


# Once a key exists


async def test_once_a_key_exists_a_request_without_one_gets_401_with_the_challenge(
    client: httpx.AsyncClient,
) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    task_id = await submit(client, bearer(key))
    for path in [*read_paths(task_id), "/events"]:
        error = assert_unauthenticated(await client.get(path), key)
        assert "Bearer" in error, error
    assert_unauthenticated(await client.post("/tasks", json=TASK), key)
    for name, r in (await changes(client, task_id, {})).items():
        assert r.status_code == 401, (name, r.text)
        assert_unauthenticated(r, key)
    r = await client.get("/session")
    assert_unauthenticated(r, key)
    assert (await client.get(f"/tasks/{task_id}", headers=bearer(key))).json()["status"] == (
        "queued"
    ), "a refused change changed the task"


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {UNKNOWN}",
        "Bearer not-a-key",
        "Bearer " + "tq_" + "x" * 300,
        "Basic x",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "",
        "Token tq_whatever",
    ],
)
async def test_a_wrong_or_malformed_authorization_header_gets_401(
    client: httpx.AsyncClient, header: str
) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    for r in (
        await client.get("/tasks", headers={"Authorization": header}),
        await client.post("/tasks", json=TASK, headers={"Authorization": header}),
    ):
        assert_unauthenticated(r, key)
        secret = header.partition(" ")[2].strip()
        if len(secret) > 3:
            assert secret not in r.text, "a 401 repeated the key it was sent"
    assert (await client.get("/tasks", headers=bearer(key))).json()["count"] == 0


async def test_a_wrong_key_gets_401_even_while_no_key_exists(client: httpx.AsyncClient) -> None:
    """A header is checked whenever it is sent: a wrong key is not taken for anonymous."""
    assert_unauthenticated(await client.get("/tasks", headers=bearer(UNKNOWN)), UNKNOWN)
    assert (await client.get("/tasks")).status_code == 200


async def test_the_scheme_word_is_case_insensitive(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.READ)
    for word in ("bearer", "BEARER", "Bearer"):
        r = await client.get("/tasks", headers={"Authorization": f"{word} {key}"})
        assert r.status_code == 200, (word, r.text)


async def test_a_read_key_reads_everything_and_changes_nothing(client: httpx.AsyncClient) -> None:
    admin = await make_key(client, "admin", Scope.ADMIN)
    read = await make_key(client, "reader", Scope.READ)
    task_id = await submit(client, bearer(admin))
    for path in read_paths(task_id):
        r = await client.get(path, headers=bearer(read))
        assert r.status_code == 200, (path, r.text)
    error = assert_forbidden(await client.post("/tasks", json=TASK, headers=bearer(read)), read)
    assert "read" in error, error
    assert "submit" in error, error
    for name, r in (await changes(client, task_id, bearer(read))).items():
        error = assert_forbidden(r, read)
        assert "admin" in error, (name, error)
    r = await client.get("/session", headers=bearer(read))
    assert r.json() == {"scope": "read", "via": "key", "csrf_token": None}
    r = await client.get("/tasks", headers=bearer(admin))
    assert [(t["id"], t["status"]) for t in r.json()["tasks"]] == [(task_id, "queued")]


async def test_a_submit_key_reads_and_submits_and_steers_nothing(
    client: httpx.AsyncClient,
) -> None:
    key = await make_key(client, "producer", Scope.SUBMIT)
    task_id = await submit(client, bearer(key))
    for path in read_paths(task_id):
        assert (await client.get(path, headers=bearer(key))).status_code == 200, path
    for name, r in (await changes(client, task_id, bearer(key))).items():
        error = assert_forbidden(r, key)
        assert "submit" in error, (name, error)
        assert "admin" in error, (name, error)
    assert (await client.get(f"/tasks/{task_id}", headers=bearer(key))).json()["status"] == (
        "queued"
    )


async def test_an_admin_key_does_everything(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    task_id = await submit(client, bearer(key))
    for path in read_paths(task_id):
        assert (await client.get(path, headers=bearer(key))).status_code == 200, path
    h = bearer(key)
    assert (await client.post(f"/tasks/{task_id}/cancel", headers=h)).status_code == 200
    assert (await client.post(f"/tasks/{task_id}/retry", headers=h)).status_code == 202
    assert (await client.post(f"/tasks/{task_id}/cancel", headers=h)).status_code == 200
    assert (await client.delete(f"/tasks/{task_id}", headers=h)).status_code == 200
    await submit(client, h)
    for action in ("retry", "cancel", "delete"):
        r = await client.post(f"/tasks/bulk/{action}", json={"all": True}, headers=h)
        assert r.status_code == 200, (action, r.text)
    assert (await client.get("/tasks", headers=h)).json()["count"] == 0


async def test_probes_and_docs_are_open_without_a_key(
    client: httpx.AsyncClient, plain: httpx.AsyncClient
) -> None:
    await make_key(client, "ops", Scope.ADMIN)
    assert_unauthenticated(await client.get("/tasks"))
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/docs/start.js"):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.text)
    page = await plain.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")


async def test_a_revoked_key_is_refused_once_the_cache_has_passed(
    client: httpx.AsyncClient, queue: Queue
) -> None:
    """Revoked by another process (here: another connection to the store), a key keeps
    working in this one for at most CACHE_S."""
    now = [1000.0]
    app_queue = queue_of(client)
    app_queue.keys = Keys(app_queue.driver, clock=lambda: now[0])
    key = await make_key(client, "ops", Scope.ADMIN)
    assert (await client.get("/tasks", headers=bearer(key))).status_code == 200
    await queue.keys.revoke("ops")
    now[0] += CACHE_S - 0.01
    assert (await client.get("/tasks", headers=bearer(key))).status_code == 200, "remembered"
    now[0] += 0.01
    assert_unauthenticated(await client.get("/tasks", headers=bearer(key)), key)
    # a service whose every key was revoked is open again on loopback, like one with none
    now[0] += CACHE_S
    assert (await client.get("/tasks")).status_code == 200


async def test_a_key_revoked_through_the_same_process_is_refused_at_once(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = queue_of(client).keys
    key = await make_key(client, "ops", Scope.ADMIN)
    other = await make_key(client, "other", Scope.READ)
    assert (await client.get("/tasks", headers=bearer(key))).status_code == 200
    await keys.revoke("ops")
    assert_unauthenticated(await client.get("/tasks", headers=bearer(key)), key)
    assert (await client.get("/tasks", headers=bearer(other))).status_code == 200


async def test_a_key_made_elsewhere_works_and_closes_the_open_door_within_the_cache(
    client: httpx.AsyncClient, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("taskq.keys.CACHE_S", 0.0)
    assert (await client.get("/tasks")).status_code == 200
    key = await queue.keys.create("elsewhere", Scope.READ)
    assert (await client.get("/tasks", headers=bearer(key))).status_code == 200
    assert_unauthenticated(await client.get("/tasks"), key)


# Sessions (the dashboard's cookie)


def set_cookie_attributes(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The session cookie's value and its attributes (lower-case names)."""
    (header,) = [
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "=")
    ]
    first, *rest = (part.strip() for part in header.split(";"))
    value = first.partition("=")[2]
    attributes = {}
    for part in rest:
        name, _, val = part.partition("=")
        attributes[name.lower()] = val
    return value, attributes


async def sign_in(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    r = await client.post("/session", json={"key": key})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_signing_in_sets_a_strict_http_only_cookie(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.SUBMIT)
    r = await client.post("/session", json={"key": key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "submit"
    assert body["via"] == "session"
    assert body["csrf_token"]
    assert key not in body["csrf_token"]
    value, attributes = set_cookie_attributes(r)
    assert value == key
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "strict"
    assert attributes["path"] == "/"
    assert attributes["max-age"] == str(SESSION_S)
    assert "secure" not in attributes, "a cookie marked Secure over http is never sent back"


async def test_over_https_the_cookie_is_secure(make_client: ClientFactory) -> None:
    async with make_client() as client:
        key = await make_key(client, "ops", Scope.READ)
        transport = httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="https://taskq") as tls:
            r = await tls.post("/session", json={"key": key})
            assert r.status_code == 200, r.text
            _, attributes = set_cookie_attributes(r)
            assert "secure" in attributes
            assert "httponly" in attributes


async def test_a_signed_in_page_reads_with_its_cookie_alone(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.READ)
    assert_unauthenticated(await client.get("/tasks"))
    signed_in = await sign_in(client, key)
    assert client.cookies.get(SESSION_COOKIE) == key
    r = await client.get("/tasks")
    assert r.status_code == 200, r.text
    r = await client.get("/session")
    assert r.json() == signed_in
    # its scope is still the key's
    r = await client.post("/tasks", json=TASK, headers={"X-CSRF-Token": signed_in["csrf_token"]})
    assert_forbidden(r, key)


async def test_a_signed_in_pages_change_needs_its_csrf_token(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    await sign_in(client, key)
    token = (await client.get("/session")).json()["csrf_token"]

    error = assert_forbidden(await client.post("/tasks", json=TASK), key)
    assert "x-csrf-token" in error.lower(), error
    assert_forbidden(await client.post("/tasks", json=TASK, headers={"X-CSRF-Token": "0" * 64}))
    assert_forbidden(await client.post("/tasks", json=TASK, headers={"X-CSRF-Token": ""}))
    assert_forbidden(await client.post("/tasks", json=TASK, headers={"X-CSRF-Token": key}))
    assert (await client.get("/tasks")).json()["count"] == 0, "a refused submission stored"

    task_id = await submit(client, {"X-CSRF-Token": token})
    assert_forbidden(await client.post(f"/tasks/{task_id}/cancel"))
    assert_forbidden(await client.delete(f"/tasks/{task_id}"))
    assert_forbidden(await client.post("/tasks/bulk/cancel", json={"all": True}))
    h = {"X-CSRF-Token": token}
    assert (await client.post(f"/tasks/{task_id}/cancel", headers=h)).status_code == 200
    assert (await client.delete(f"/tasks/{task_id}", headers=h)).status_code == 200


async def test_each_keys_session_has_its_own_csrf_token(client: httpx.AsyncClient) -> None:
    one = await make_key(client, "one", Scope.ADMIN)
    two = await make_key(client, "two", Scope.ADMIN)
    token_one = (await sign_in(client, one))["csrf_token"]
    token_two = (await sign_in(client, two))["csrf_token"]
    assert token_one != token_two
    assert_forbidden(await client.post("/tasks", json=TASK, headers={"X-CSRF-Token": token_one}))
    await submit(client, {"X-CSRF-Token": token_two})


async def test_a_bearer_request_needs_no_csrf_token_even_with_a_cookie(
    client: httpx.AsyncClient,
) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    await submit(client, bearer(key))
    await sign_in(client, key)
    # the header wins over the cookie: a program, not a page
    task_id = await submit(client, bearer(key))
    r = await client.post(f"/tasks/{task_id}/cancel", headers=bearer(key))
    assert r.status_code == 200, r.text
    r = await client.get("/session", headers=bearer(key))
    assert r.json()["via"] == "key"


async def test_signing_out_clears_the_cookie(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    await sign_in(client, key)
    assert (await client.get("/tasks")).status_code == 200
    r = await client.delete("/session")
    assert r.status_code == 204, r.text
    value, attributes = set_cookie_attributes(r)
    assert value in ("", '""')
    assert attributes.get("max-age") == "0" or "expires" in attributes, attributes
    assert attributes["path"] == "/"
    assert SESSION_COOKIE not in client.cookies
    assert_unauthenticated(await client.get("/tasks"), key)
    assert_unauthenticated(await client.get("/session"), key)


async def test_a_session_ends_when_its_key_is_revoked(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    await make_key(client, "other", Scope.ADMIN)
    await sign_in(client, key)
    await queue_of(client).keys.revoke("ops")
    error = assert_unauthenticated(await client.get("/tasks"), key)
    assert "sign in" in error, error


@pytest.mark.parametrize("body", [{"key": UNKNOWN}, {"key": "nope"}, {"key": "x" * 200}])
async def test_signing_in_with_a_bad_key_gets_401_and_no_cookie(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    real = await make_key(client, "ops", Scope.ADMIN)
    r = await client.post("/session", json=body)
    assert_unauthenticated(r, real, body["key"])
    assert "set-cookie" not in r.headers
    assert SESSION_COOKIE not in client.cookies


@pytest.mark.parametrize("raw", [b"not json", b"", b"{", b"key=tq_x"])
async def test_signing_in_with_a_body_that_is_not_json_gets_400(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    await make_key(client, "ops", Scope.ADMIN)
    r = await client.post("/session", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "body",
    [{}, "key", {"key": ""}, {"key": 1}, {"key": "tq_" + "x" * 300}, {"key": "k", "other": 1}, []],
)
async def test_signing_in_with_json_that_is_no_sign_in_gets_422(
    client: httpx.AsyncClient, body: Any
) -> None:
    real = await make_key(client, "ops", Scope.ADMIN)
    r = await client.post("/session", json=body)
    assert r.status_code == 422, r.text
    assert real not in r.text
    assert "set-cookie" not in r.headers


async def test_signing_in_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    key = await make_key(client, "ops", Scope.ADMIN)
    r = await client.post("/session", json={"key": key}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403, r.text
    assert "set-cookie" not in r.headers


# The OpenAPI document


async def test_the_document_describes_who_may_call_each_operation(
    client: httpx.AsyncClient,
) -> None:
    await make_key(client, "ops", Scope.ADMIN)
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    bearers = [s for s in schemes.values() if s.get("type") == "http"]
    assert bearers
    assert all(s["scheme"].lower() == "bearer" for s in bearers)
    open_ones = {
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("get", "/docs/start.js"),
        ("get", "/session"),
        ("post", "/session"),
        ("delete", "/session"),
    }
    seen = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            seen.add((method, path))
            where = f"{method.upper()} {path}"
            if (method, path) in open_ones:
                assert "security" not in op, where
                assert "401" not in op["responses"] or path == "/session", where
                continue
            assert op.get("security"), f"{where} has no security"
            for requirement in op["security"]:
                assert set(requirement) <= set(schemes), where
            assert {"401", "403"} <= set(op["responses"]), where
            assert "scope" in op["description"], where
    assert open_ones <= seen
    assert ("post", "/tasks") in seen
    assert ("get", "/tasks") in seen
    assert "/dashboard" not in spec["paths"]
