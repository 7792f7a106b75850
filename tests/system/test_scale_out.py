"""Scale-out on PostgreSQL: several API and worker processes share one database."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system import store
from tests.system.procs import Processes

N_TASKS = 10_000
CLIENTS = 32

pytestmark = pytest.mark.system


async def post_all(urls: list[str], n: int) -> list[str]:
    """POST n tasks from CLIENTS concurrent clients, spread over the APIs; the accepted ids."""
    counter = itertools.count()
    accepted: list[str] = []

    async def one_client(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while (i := next(counter)) < n:
                body = {"action": "uppercase", "data": {"text": f"task {i}"}}
                response = await http.post("/tasks", json=body)
                assert response.status_code == 202, response.text
                accepted.append(response.json()["id"])

    await asyncio.gather(*(one_client(urls[k % len(urls)]) for k in range(CLIENTS)))
    return accepted


def test_two_apis_three_workers_10k_tasks_one_worker_killed_none_lost(
    procs: Processes, migrated_postgres_url: str
) -> None:
    database = migrated_postgres_url
    apis = [procs.start("api", "--database", database, name=f"api-{k}") for k in (1, 2)]
    for api in apis:
        api.wait_ready()
    workers = [
        procs.start(
            "worker",
            "--database",
            database,
            "--demo-delay-ms",
            "2",
            "--concurrency",
            "16",
            "--prefetch",
            "32",
            http=False,
            name=f"worker-{k}",
        )
        for k in (1, 2, 3)
    ]
    for worker in workers:
        worker.wait_log("started: concurrency=")

    started = time.monotonic()
    accepted = asyncio.run(post_all([api.url for api in apis], N_TASKS))
    posted_s = time.monotonic() - started
    assert len(accepted) == len(set(accepted)) == N_TASKS

    def completed() -> int:
        count = "SELECT count(*) FROM {tasks} WHERE status = 'completed'"
        return int(store.rows(database, count)[0][0])

    wait_until(lambda: completed() >= 1, 30, what="work under way")
    workers[0].kill9()  # mid-run: it holds running and prefetched tasks
    wait_until(
        lambda: completed() == N_TASKS,
        120,
        what=f"all {N_TASKS} tasks completed",
        details=procs.describe,
    )
    done_s = time.monotonic() - started

    rows = store.rows(database, "SELECT id::text, status, result FROM {tasks}")
    assert len(rows) == N_TASKS, "exactly one record per task"
    assert {r[0] for r in rows} == set(accepted), "every accepted task, and nothing else"
    assert {r[1] for r in rows} == {"completed"}
    assert all(r[2]["output"].startswith("TASK ") for r in rows)
    print(f"\n{N_TASKS} tasks: posted in {posted_s:.1f}s, all completed after {done_s:.1f}s")
