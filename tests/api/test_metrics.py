"""GET /metrics: Prometheus' text format, the task figures derived from the store, HTTP
figures by route template, bounded labels, and the key it needs."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.api.conftest import ClientFactory
from tests.support.waiting import until

from taskq.api.metrics import Metrics
from taskq.keys import Scope
from taskq.metrics import StoreMetrics
from taskq.queue import Queue

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fresh_metrics(client: httpx.AsyncClient, *, max_pairs: int = 50, lag_s: float = 0.0) -> Metrics:
    """Metrics counted from now, reading up to ``lag_s`` ago (no lag when nothing is in
    flight: submissions through this client only, each answered after its commit)."""
    found = Metrics(StoreMetrics(lag_s=lag_s, max_pairs=max_pairs))
    client.app.state.metrics = found  # type: ignore[attr-defined]
    return found


async def scrape(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> Samples:
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def test_a_known_workload_shows_in_every_task_figure(make_client: ClientFactory) -> None:
    async with make_client(run_worker=True, demo_delay_ms=0) as client:
        # a worker's outcome is stamped before its (group) commit: with no lag, a scrape
        # between the two would move past it for good
        fresh_metrics(client, lag_s=1.0)
        good = {"action": "uppercase", "data": {"text": "hi"}}
        bad = {"action": "sum", "data": {"numbers": ["x"]}}  # fails at once (no retry)
        ids = [(await client.post("/tasks", json=good)).json()["id"] for _ in range(3)]
        ids += [(await client.post("/tasks", json=bad)).json()["id"] for _ in range(2)]
        ids.append((await client.post("/tasks", json={**good, "queue": "q2"})).json()["id"])

        async def all_counted() -> Samples | None:
            samples = await scrape(client)
            finished = total(samples, "taskq_tasks_finished_total")
            # the gauges come from GET /queues' answer, cached for a second
            ended = [
                value(samples, "taskq_tasks", queue=q, status=s)
                for q, s in [("default", "completed"), ("default", "failed"), ("q2", "completed")]
            ]
            return samples if finished == 6 and ended == [3, 2, 1] else None

        samples = await until(all_counted, 15, what="the 6 tasks counted")
        default_upper = {"queue": "default", "action": "uppercase"}
        default_sum = {"queue": "default", "action": "sum"}
        q2 = {"queue": "q2", "action": "uppercase"}
        submitted = "taskq_tasks_submitted_total"
        assert value(samples, submitted, **default_upper) == 3
        assert value(samples, submitted, **default_sum) == 2
        assert value(samples, submitted, **q2) == 1
        finished = "taskq_tasks_finished_total"
        assert value(samples, finished, **default_upper, status="completed") == 3
        assert value(samples, finished, **default_sum, status="failed") == 2
        assert value(samples, finished, **q2, status="completed") == 1
        attempts = "taskq_task_attempts_total"
        assert value(samples, attempts, **default_upper, outcome="succeeded") == 3
        assert value(samples, attempts, **default_sum, outcome="failed") == 2
        assert value(samples, attempts, **default_upper, outcome="failed") is None
        for name in ("taskq_task_wait_seconds", "taskq_task_run_seconds"):
            assert value(samples, f"{name}_count", **default_upper) == 3
            assert value(samples, f"{name}_bucket", **default_upper, le="+Inf") == 3
            assert value(samples, f"{name}_count", **default_sum) == 2
            assert value(samples, f"{name}_bucket", **q2, le="3600.0") == 1
        assert total(samples, "taskq_leases_recovered_total") == 0
        # gauges: the store now
        assert value(samples, "taskq_tasks", queue="default", status="failed") == 2
        assert value(samples, "taskq_tasks", queue="q2", status="completed") == 1
        assert value(samples, "taskq_tasks", queue="q2", status="queued") == 0
        assert value(samples, "taskq_workers", queue="*") == 1
        assert value(samples, "taskq_worker_slots", queue="*") is not None

        # counted once: a later scrape finds the same totals
        again = await scrape(client)
        assert total(again, finished) == 6
        assert total(again, submitted) == 6


async def test_http_figures_use_route_templates_never_raw_paths(
    client: httpx.AsyncClient,
) -> None:
    task_id = (await client.post("/tasks", json={"action": "a"})).json()["id"]
    assert (await client.get(f"/tasks/{task_id}")).status_code == 200
    assert (await client.get("/tasks/00000000-0000-0000-0000-000000000000")).status_code == 404
    assert (await client.get("/no/such/page")).status_code == 404
    assert (await client.request("BREW", "/tasks")).status_code == 405
    samples = await scrape(client)
    count = "taskq_http_request_duration_seconds_count"
    assert value(samples, count, method="POST", route="/tasks", status="202") == 1
    assert value(samples, count, method="GET", route="/tasks/{task_id}", status="200") == 1
    assert value(samples, count, method="GET", route="/tasks/{task_id}", status="404") == 1
    assert value(samples, count, method="GET", route="unmatched", status="404") == 1
    # any token is a method to HTTP: the unknown ones share one label
    assert value(samples, count, method="other", route="/tasks", status="405") == 1
    routes = {dict(labels).get("route") for (name, labels) in samples if name == count}
    assert not any(task_id in (r or "") for r in routes)


async def test_pairs_past_the_cap_fold_into_other(client: httpx.AsyncClient) -> None:
    fresh_metrics(client, max_pairs=2)
    for action, n in {"a1": 3, "a2": 2, "a3": 1, "a4": 1, "a5": 1}.items():
        for _ in range(n):
            assert (await client.post("/tasks", json={"action": action})).status_code == 202
    assert (await client.post("/tasks", json={"action": "b", "queue": "z"})).status_code == 202
    samples = await scrape(client)
    submitted = {
        (dict(labels)["queue"], dict(labels)["action"]): v
        for (name, labels), v in samples.items()
        if name == "taskq_tasks_submitted_total"
    }
    # the two busiest keep their labels; the rest of a queue that has one fold into
    # (queue, "other"), a queue that has none into ("other", "other")
    assert submitted == {
        ("default", "a1"): 3,
        ("default", "a2"): 2,
        ("default", "other"): 3,
        ("other", "other"): 1,
    }
    # a pair seen later folds too: the labels never change once the cap is reached
    assert (await client.post("/tasks", json={"action": "a9", "queue": "z"})).status_code == 202
    later = await scrape(client)
    assert value(later, "taskq_tasks_submitted_total", queue="other", action="other") == 2


async def test_counters_start_when_the_app_starts(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await client.post("/tasks", json={"action": "early"})).status_code == 202
    fresh_metrics(client)
    assert (await client.post("/tasks", json={"action": "late"})).status_code == 202
    samples = await scrape(client)
    assert value(samples, "taskq_tasks_submitted_total", queue="default", action="late") == 1
    assert value(samples, "taskq_tasks_submitted_total", queue="default", action="early") is None
    assert value(samples, "taskq_tasks", queue="default", status="queued") == 3


async def test_a_scrape_needs_a_read_key_once_one_exists(client: httpx.AsyncClient) -> None:
    await scrape(client)  # no key yet, on loopback: open
    queue: Queue = client.app.state.queue  # type: ignore[attr-defined]
    key = await queue.keys.create("prometheus", Scope.READ)
    r = await client.get("/metrics")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    samples = await scrape(client, {"Authorization": f"Bearer {key}"})
    assert value(samples, "taskq_tasks_submitted_total", queue="default", action="x") is None
