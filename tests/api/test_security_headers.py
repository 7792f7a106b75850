"""Every answer carries nosniff and no-referrer; every page a strict Content-Security-Policy
that runs no inline script and cannot be framed by another site."""

from __future__ import annotations

import re

import httpx

from taskq.api.headers import CONTENT_SECURITY_POLICY, with_security_headers


async def test_json_answers_carry_the_headers_of_every_answer(client: httpx.AsyncClient) -> None:
    for response in [
        await client.get("/tasks"),
        await client.get("/tasks/not-there"),
        await client.post("/tasks", content=b"{", headers={"Origin": "http://evil.example"}),
    ]:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "content-security-policy" not in response.headers


async def test_the_docs_page_has_a_strict_policy_and_no_inline_script(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert page.headers["x-frame-options"] == "DENY"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts, "the page loads Swagger UI"
    assert all('src="/' in attrs and not body.strip() for attrs, body in scripts), scripts
    for attrs, _ in scripts:
        src = re.search(r'src="([^"]+)"', attrs)
        assert src is not None
        served = await client.get(src.group(1))
        assert served.status_code == 200, src.group(1)
        assert served.headers["x-content-type-options"] == "nosniff"


async def test_the_shipped_swagger_ui_reads_openapi_3_1(client: httpx.AsyncClient) -> None:
    """The document is OpenAPI 3.1; Swagger UI before 5 shows "Unable to render this
    definition" for it (as the docs page did with the earlier bundle)."""
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    bundle = await client.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "isOAS31" in bundle.text


def test_the_headers_of_every_answer_replace_any_the_app_set() -> None:
    sent = [
        (b"content-type", b"application/json"),
        (b"x-content-type-options", b"sniff-away"),
        (b"location", b"/tasks/1"),
    ]
    assert with_security_headers(sent) == [
        (b"content-type", b"application/json"),
        (b"location", b"/tasks/1"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
