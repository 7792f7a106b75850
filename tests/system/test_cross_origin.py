"""`taskq run` over a real socket refuses a foreign site's POST and accepts curl's."""

from __future__ import annotations

import httpx
import pytest
from tests.system.procs import Processes

pytestmark = pytest.mark.system

TASK = b'{"action": "uppercase", "data": {"text": "hi"}}'


def test_foreign_origin_post_is_refused_and_curl_d_is_accepted(procs: Processes) -> None:
    service = procs.start("run")
    service.wait_ready()

    with httpx.Client(base_url=service.url, timeout=5) as http:
        refused = http.post(
            "/tasks",
            content=TASK,
            headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        )
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"error": "cross-origin request refused"}
        # localhost and 127.0.0.1 are different origins (a DNS-rebinding page is the former)
        other_host = http.post(
            "/tasks", content=TASK, headers={"Origin": f"http://localhost:{service.port}"}
        )
        assert other_host.status_code == 403, other_host.text
        assert http.get("/tasks").json()["count"] == 0, "a refused POST stored a task"

        # what `curl -d '{"action": ...}' URL` sends: a form content type and no Origin
        curl = http.post(
            "/tasks",
            content=TASK,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert curl.status_code == 202, curl.text
        # the service's own page (Origin = the Host it was reached at)
        own = http.post("/tasks", content=TASK, headers={"Origin": service.url})
        assert own.status_code == 202, own.text
        assert http.get("/tasks").json()["count"] == 2
