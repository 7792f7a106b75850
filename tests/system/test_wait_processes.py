"""GET /tasks/{id}?wait= on a `taskq api` process, woken by a completion in a separate
`taskq worker` process (the events each process publishes), on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.system import client
from tests.system.procs import Processes

pytestmark = pytest.mark.system

DELAY_MS = 1000


def test_a_wait_on_the_api_is_woken_by_a_completion_in_a_worker_process(
    procs: Processes, database_url: str
) -> None:
    api = procs.start("api", "--database", database_url, name="api")
    api.wait_ready()
    worker = procs.start(
        "worker",
        "--database",
        database_url,
        "--demo-delay-ms",
        str(DELAY_MS),
        "--poll-interval-s",
        "0.05",
        http=False,
        name="worker",
    )
    worker.wait_log("started: concurrency=")
    with httpx.Client(base_url=api.url, timeout=40) as http:
        task_id = client.submit(http, "uppercase", {"text": "hi"})
        started = time.monotonic()
        r = http.get(f"/tasks/{task_id}", params={"wait": 30})
        took = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["result"]) == ("completed", {"output": "HI"}), r.text
    assert 0.5 < took < 5, f"answered after {took:.1f} s: not woken by the worker's event"
