"""Talking to a running taskq over HTTP, the way a user's client would."""

from __future__ import annotations

from typing import Any

import httpx
from tests.support.waiting import wait_until

TERMINAL = frozenset({"completed", "failed", "cancelled"})
Task = dict[str, Any]


def submit(client: httpx.Client, action: str, data: dict[str, Any] | None = None) -> str:
    """POST /tasks; the id from its 202."""
    response = client.post("/tasks", json={"action": action, "data": data or {}})
    assert response.status_code == 202, f"POST /tasks: {response.status_code} {response.text}"
    body = response.json()
    assert body["status"] == "queued", body
    return str(body["id"])


def get(client: httpx.Client, task_id: str) -> Task:
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 200, f"GET /tasks/{task_id}: {response.status_code}"
    task: Task = response.json()
    return task


def list_all(client: httpx.Client, status: str | None = None) -> list[Task]:
    """Every task GET /tasks lists, following next_cursor page by page."""
    tasks: list[Task] = []
    params: dict[str, str | int] = {"limit": 1000}
    if status:
        params["status"] = status
    while True:
        response = client.get("/tasks", params=params)
        assert response.status_code == 200, f"GET /tasks: {response.status_code} {response.text}"
        page = response.json()
        assert page["count"] == len(page["tasks"]), page
        tasks.extend(page["tasks"])
        if page["next_cursor"] is None:
            return tasks
        params["cursor"] = page["next_cursor"]


def count(client: httpx.Client, status: str) -> int:
    return len(list_all(client, status))


def wait_terminal(
    client: httpx.Client, ids: set[str], timeout_s: float, *, details: Any = None
) -> dict[str, Task]:
    """Wait until every task in ``ids`` is terminal; then all tasks by id."""

    def all_terminal() -> dict[str, Task] | None:
        by_id = {t["id"]: t for t in list_all(client)}
        done = {i for i in ids if i in by_id and by_id[i]["status"] in TERMINAL}
        return by_id if done == ids else None

    def progress() -> str:
        by_id = {t["id"]: t for t in list_all(client)}
        states: dict[str, int] = {}
        for i in ids:
            state = by_id[i]["status"] if i in by_id else "missing"
            states[state] = states.get(state, 0) + 1
        return f"states of the {len(ids)} tasks: {states}" + (f"\n{details()}" if details else "")

    return wait_until(all_terminal, timeout_s, what="all tasks to be terminal", details=progress)
