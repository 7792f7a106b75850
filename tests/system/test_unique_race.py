"""Unique keys across processes: two `taskq api`s on one database, each sent the same
unique key by several clients at once, store one task, and every answer names it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.system.procs import Processes

pytestmark = pytest.mark.system


def test_racing_submissions_through_two_apis_store_one_task(
    procs: Processes, database_url: str
) -> None:
    apis = [procs.start("api", "--database", database_url, name=f"api-{k}") for k in (1, 2)]
    for api in apis:
        api.wait_ready()

    def submit(n: int) -> tuple[int, str]:
        url = apis[n % 2].url
        body = {"action": "sync", "data": {"n": n}, "unique_key": "customer:42", "delay": 3600}
        response = httpx.post(f"{url}/tasks", json=body, timeout=10)
        return response.status_code, response.json()["id"]

    for _ in range(3):  # three rounds: each a fresh race on the same key
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(submit, range(32)))
        ids = {task_id for _, task_id in answers}
        assert len(ids) == 1, answers
        assert sorted(code for code, _ in answers) == [200] * 31 + [202]
        (task_id,) = ids
        listed = httpx.get(f"{apis[0].url}/tasks", params={"limit": 100}, timeout=5).json()
        active = [
            t
            for t in listed["tasks"]
            if t["unique_key"] == "customer:42" and t["status"] in ("queued", "running")
        ]
        assert [t["id"] for t in active] == [task_id]
        # cancelled, the key is free for the next round's race
        assert httpx.post(f"{apis[1].url}/tasks/{task_id}/cancel", timeout=5).status_code == 200
