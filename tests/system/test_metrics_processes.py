"""GET /metrics across processes: two `taskq api` processes and a separate `taskq worker`
on one database report the same task counters and histograms, since both derive them from
the store's rows, not from what they saw themselves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.waiting import wait_until
from tests.system import client, probe
from tests.system.procs import Processes

pytestmark = pytest.mark.system

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# the task figures: the same whichever process is asked (the HTTP ones are each process's)
TASK_FIGURES = (
    "taskq_tasks_submitted_total",
    "taskq_tasks_finished_total",
    "taskq_task_attempts_total",
    "taskq_leases_recovered_total",
    "taskq_task_wait_seconds_bucket",
    "taskq_task_wait_seconds_count",
    "taskq_task_run_seconds_bucket",
    "taskq_task_run_seconds_count",
)


def task_figures(http: httpx.Client) -> Samples:
    r = http.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name in TASK_FIGURES
    }


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def test_two_api_processes_report_the_same_counts_of_a_separate_workers_work(
    procs: Processes, database_url: str, tmp_path: Path
) -> None:
    probe.write_module(tmp_path)
    apis = [procs.start("api", "--database", database_url, name=f"api-{k}") for k in (1, 2)]
    for api in apis:
        api.wait_ready()
    worker = procs.start(
        "worker",
        "--database",
        database_url,
        "--actions",
        probe.MODULE,
        "--poll-interval-s",
        "0.05",
        http=False,
        name="worker",
    )
    worker.wait_log("started: concurrency=")
    first, second = (httpx.Client(base_url=api.url, timeout=10) for api in apis)
    with first, second:
        ids = {client.submit(first, "record", {"key": f"r{k}", "sleep_s": 0.01}) for k in range(6)}
        ids |= {
            client.submit(second, "record", {"key": f"s{k}", "sleep_s": 0.01}) for k in range(3)
        }
        ids |= {client.submit(first, "refuse", {"key": f"f{k}"}) for k in range(2)}
        r = first.post("/tasks", json={"action": "boom", "data": {"key": "b"}, "max_attempts": 2})
        assert r.status_code == 202, r.text
        ids.add(r.json()["id"])
        client.wait_terminal(first, ids, 30, details=procs.describe)

        # each process reads a few seconds behind now (writes in flight): wait for both
        def both_counted() -> tuple[Samples, Samples] | None:
            found = task_figures(first), task_figures(second)
            counted = [total(f, "taskq_tasks_finished_total") for f in found]
            return found if counted == [12, 12] else None

        one, other = wait_until(
            both_counted, 30, what="both API processes to count the 12 tasks", interval_s=0.5
        )
    assert one == other
    finished = {
        dict(labels)["action"] + "/" + dict(labels)["status"]: v
        for (name, labels), v in one.items()
        if name == "taskq_tasks_finished_total"
    }
    assert finished == {"record/completed": 9, "refuse/failed": 2, "boom/failed": 1}
    attempts = {
        dict(labels)["action"] + "/" + dict(labels)["outcome"]: v
        for (name, labels), v in one.items()
        if name == "taskq_task_attempts_total"
    }
    assert attempts == {"record/succeeded": 9, "refuse/failed": 2, "boom/failed": 2}
    assert total(one, "taskq_tasks_submitted_total") == 12
    assert total(one, "taskq_task_wait_seconds_count") == 12
    assert total(one, "taskq_task_run_seconds_count") == 12
