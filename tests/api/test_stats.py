"""GET /queues and GET /stats: their shapes, and that polling clients share one answer per
second (each answer is computed at most once per second per process)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from taskq.api.stats import StatsAnswers

WINDOWS = [60, 300, 900]
ZEROS = {"queued": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0}


class Clock:
    """A monotonic clock the test moves by hand, for the answers' cache."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def answers(client: httpx.AsyncClient) -> StatsAnswers:
    found: StatsAnswers = client.app.state.stats  # type: ignore[attr-defined]
    return found


async def get(client: httpx.AsyncClient, path: str) -> Any:
    r = await client.get(path)
    assert r.status_code == 200, r.text
    return r.json()


async def post(client: httpx.AsyncClient, **fields: Any) -> None:
    r = await client.post("/tasks", json={"action": "a", **fields})
    assert r.status_code == 202


async def test_stats_of_an_empty_store_are_zeros_and_nulls(client: httpx.AsyncClient) -> None:
    body = await get(client, "/stats")
    assert body["counts"] == ZEROS
    assert [w["window_s"] for w in body["windows"]] == WINDOWS
    for window in body["windows"]:
        assert window["completed"] == window["failed"] == 0
        assert window["completed_per_s"] == window["failed_per_s"] == 0
        assert window["wait_s"] == window["run_s"] == {"p50": None, "p95": None}
        assert window["sampled"] is False
    assert body["generated_at"].endswith("Z")
    queues = await get(client, "/queues")
    assert (queues["queues"], queues["more"]) == ([], False)


async def test_queues_list_each_queue_by_name_with_its_ready_age(
    client: httpx.AsyncClient,
) -> None:
    await post(client, queue="emails")
    await post(client, queue="emails", delay=3600)
    await post(client, queue="reports")
    body = await get(client, "/queues")
    assert [q["name"] for q in body["queues"]] == ["emails", "reports"]
    assert not body["more"]
    emails = body["queues"][0]
    assert emails["counts"] == {**ZEROS, "queued": 2}
    assert 0 <= emails["oldest_ready_age_s"] < 60, "the delayed task is not ready"
    assert [w["window_s"] for w in emails["windows"]] == WINDOWS
    assert all(w["completed"] == w["failed"] == 0 for w in emails["windows"])


async def test_a_finished_task_counts_in_every_window_with_its_times(
    client: httpx.AsyncClient,
) -> None:
    now = time.time()
    await post(client, run_at=now - 10)
    driver = client.app.state.queue.driver  # type: ignore[attr-defined]
    (task,) = await driver.claim("w", 1, queues=None, lease_s=30, now=now - 2, start=1)
    assert await driver.complete(task.id, "w", "{}", now=now - 1.5)
    body = await get(client, "/stats")
    assert body["counts"] == {**ZEROS, "completed": 1}
    for window in body["windows"]:
        assert (window["completed"], window["failed"]) == (1, 0)
        assert window["completed_per_s"] == 1 / window["window_s"]
        assert window["run_s"] == {"p50": pytest.approx(0.5), "p95": pytest.approx(0.5)}
        assert window["wait_s"] == {"p50": pytest.approx(8.0), "p95": pytest.approx(8.0)}
    (queue,) = (await get(client, "/queues"))["queues"]
    assert [w["completed"] for w in queue["windows"]] == [1, 1, 1]


async def test_polling_within_a_second_reuses_the_answer_and_after_it_counts_again(
    client: httpx.AsyncClient,
) -> None:
    clock = Clock()
    cached = answers(client)
    cached.stats.clock = cached.queues.clock = clock
    await post(client)
    assert (await get(client, "/stats"))["counts"]["queued"] == 1
    assert len((await get(client, "/queues"))["queues"]) == 1

    await post(client, queue="other")
    clock.now += 0.9
    assert (await get(client, "/stats"))["counts"]["queued"] == 1, "the same second's answer"
    assert len((await get(client, "/queues"))["queues"]) == 1
    assert cached.stats.computed == cached.queues.computed == 1

    clock.now += 0.1
    assert (await get(client, "/stats"))["counts"]["queued"] == 2
    assert len((await get(client, "/queues"))["queues"]) == 2
    assert cached.stats.computed == cached.queues.computed == 2


async def test_both_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await get(client, "/openapi.json"))["paths"]
    assert set(paths["/queues"]["get"]["responses"]) == {"200", "401", "403", "503"}
    assert set(paths["/stats"]["get"]["responses"]) == {"200", "401", "403", "503"}
