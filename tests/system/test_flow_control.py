"""Flow control across processes: several `taskq worker`s on one database obey a queue's
concurrency and its pause, as the probe module's log of every run shows (start and end on
the machine's monotonic clock, comparable across pids)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.system import client, probe
from tests.system.procs import Processes
from tests.system.test_workers import start_cluster

pytestmark = pytest.mark.system


def submit(http: httpx.Client, queue: str, key: str, sleep_s: float) -> str:
    response = http.post(
        "/tasks",
        json={"action": "record", "queue": queue, "data": {"key": key, "sleep_s": sleep_s}},
    )
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def most_at_once(runs: list[probe.Run]) -> int:
    """The largest number of ``runs`` under way at one moment."""
    edges = sorted(
        [(r.start_ns, 1) for r in runs] + [(r.end_ns or 2**63, -1) for r in runs],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same instant
    )
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_a_queue_limited_to_two_never_runs_more_than_two_across_three_workers(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    runs_log = probe.write_module(tmp_path)
    api, workers = start_cluster(procs, database_url, 3, "--concurrency", "4", "--lease-s", "60")
    with httpx.Client(base_url=api.url, timeout=5) as http:
        limited = http.patch("/queues/limited", json={"concurrency": 2})
        assert limited.status_code == 200, limited.text
        ids = {submit(http, "limited", f"lim{i}", 0.1) for i in range(24)}
        ids |= {submit(http, "free", f"free{i}", 0.3) for i in range(24)}
        tasks = client.wait_terminal(http, ids, 60, details=procs.describe)
        statuses = {tasks[task_id]["status"] for task_id in ids}

    assert statuses == {"completed"}
    runs = probe.read_runs(runs_log)
    limited_runs = [r for r in runs if r.key.startswith("lim")]
    free_runs = [r for r in runs if r.key.startswith("free")]
    assert len(limited_runs) == 24
    assert len(free_runs) == 24
    assert most_at_once(limited_runs) == 2, "the limit of 2 was passed (or never reached)"
    assert len({r.pid for r in limited_runs}) >= 2, "one worker ran the whole limited queue"
    # the workers had room for more: the free queue ran beyond 2 at once meanwhile
    assert most_at_once(free_runs) > 2
    assert {r.pid for r in runs} <= set(workers)


def test_a_paused_queue_starts_nothing_until_it_is_resumed(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    runs_log = probe.write_module(tmp_path)
    api, _ = start_cluster(procs, database_url, 3, "--concurrency", "4")
    with httpx.Client(base_url=api.url, timeout=5) as http:
        assert http.post("/queues/held/pause").status_code == 200
        held = {submit(http, "held", f"held{i}", 0.01) for i in range(12)}
        free = {submit(http, "free", f"free{i}", 0.01) for i in range(4)}
        client.wait_terminal(http, free, 20, details=procs.describe)
        # no condition to wait for: nothing must happen. The workers claim every 0.05 s at
        # least, so 2 s give them 40 chances each to break the pause.
        time.sleep(2.0)
        started = [r for r in probe.read_runs(runs_log) if r.key.startswith("held")]
        assert started == [], f"a paused queue's task started: {started}"
        assert {client.get(http, task_id)["status"] for task_id in held} == {"queued"}

        resumed = http.post("/queues/held/resume")
        assert resumed.status_code == 200, resumed.text
        tasks = client.wait_terminal(http, held, 20, details=procs.describe)
        assert {tasks[task_id]["status"] for task_id in held} == {"completed"}


def test_tasks_of_one_concurrency_key_never_run_together_across_three_workers(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    runs_log = probe.write_module(tmp_path)
    api, _ = start_cluster(procs, database_url, 3, "--concurrency", "4")
    with httpx.Client(base_url=api.url, timeout=5) as http:
        ids = set()
        for i in range(18):
            key = f"customer{i % 3}"
            data = {"key": f"{key}-{i}", "sleep_s": 0.1}
            body = {"action": "record", "queue": "keyed", "concurrency_key": key, "data": data}
            response = http.post("/tasks", json=body)
            assert response.status_code == 202, response.text
            ids.add(response.json()["id"])
        tasks = client.wait_terminal(http, ids, 60, details=procs.describe)
    assert {tasks[task_id]["status"] for task_id in ids} == {"completed"}
    runs = probe.read_runs(runs_log)
    assert len(runs) == 18
    for k in range(3):
        of_key = [r for r in runs if r.key.startswith(f"customer{k}-")]
        assert len(of_key) == 6
        assert most_at_once(of_key) == 1, f"two tasks of customer{k} ran at once"
    # the three keys ran side by side
    assert most_at_once(runs) >= 2
