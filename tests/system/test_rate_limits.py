"""Rate limits across processes: `taskq queues set --rate-limit` on the command line, then
three `taskq worker`s on one database never start more of the queue's tasks in any window
than the rate allows, as the tasks' own recorded start times show."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from tests.system import client, probe
from tests.system.procs import Processes
from tests.system.test_workers import start_cluster

pytestmark = pytest.mark.system

LIMIT, PER_S = 4, 1.0


def submit(http: httpx.Client, queue: str, n: int) -> str:
    data = {"key": f"{queue}{n}", "sleep_s": 0.0}
    response = http.post("/tasks", json={"action": "record", "queue": queue, "data": data})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def most_in_a_window(starts: list[float], window_s: float) -> int:
    """The most ``starts`` in any half-open window of ``window_s`` (each window beginning at
    a start: the busiest one does)."""
    starts = sorted(starts)
    return max(sum(s <= t < s + window_s for t in starts) for s in starts)


def test_a_rated_queue_never_starts_more_than_its_rate_in_any_window(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    done = procs.run(
        "queues", "set", "api", "--rate-limit", f"{LIMIT}/s", "--database", database_url
    )
    assert done.returncode == 0, done.stderr
    assert f"{LIMIT}/s" in done.stdout
    listed = procs.run("queues", "list", "--database", database_url)
    assert "RATE LIMIT" in listed.stdout
    assert f"{LIMIT}/s" in listed.stdout

    probe.write_module(tmp_path)
    api, _ = start_cluster(procs, database_url, 3, "--concurrency", "4")
    with httpx.Client(base_url=api.url, timeout=5) as http:
        ids = {submit(http, "api", n) for n in range(16)}
        free = submit(http, "free", 0)
        tasks = client.wait_terminal(http, {*ids, free}, 60, details=procs.describe)

    assert {tasks[i]["status"] for i in ids} == {"completed"}
    starts = [datetime.fromisoformat(tasks[i]["started_at"]).timestamp() for i in ids]
    assert most_in_a_window(starts, PER_S) == LIMIT, "the rate was passed (or never reached)"
    # 16 tasks at 4 a second: the last started 3 s or more after the first
    assert max(starts) - min(starts) >= 3 * PER_S


def test_a_bad_rate_is_refused_by_the_cli(procs: Processes, database_url: str) -> None:
    done = procs.run("queues", "set", "api", "--rate-limit", "lots", "--database", database_url)
    assert done.returncode == 2
    assert "--rate-limit" in done.stderr
    assert "N/UNIT" in done.stderr
    neither = procs.run("queues", "set", "api", "--database", database_url)
    assert neither.returncode == 2
    assert "--concurrency, --rate-limit, --key-concurrency or several" in neither.stderr


def test_queue_settings_in_taskq_toml_are_written_to_the_store_at_start(
    procs: Processes, database_url: str
) -> None:
    (procs.workdir / "taskq.toml").write_text(
        "[queue_settings.api]\n"
        'rate_limit = "100/min"\n'
        "concurrency = 3\n"
        "[queue_settings.held]\n"
        "paused = true\n",
        encoding="utf-8",
    )
    api = procs.start("api", "--database", database_url, name="api")
    api.wait_ready()
    with httpx.Client(base_url=api.url, timeout=5) as http:
        found = {q["name"]: q for q in http.get("/queues").json()["queues"]}
        assert (found["api"]["rate_limit"], found["api"]["concurrency"]) == ("100/min", 3)
        assert found["held"]["paused"] is True
        # a change made since holds until the next start applies the file again
        assert http.post("/queues/held/resume").status_code == 200
    assert "queue api: not paused, concurrency 3, rate limit 100/min, per key 1" in api.log()

    (procs.workdir / "taskq.toml").write_text(
        '[queue_settings.api]\nrate_limit = "none"\n', encoding="utf-8"
    )
    listed = procs.run("queues", "list", "--database", database_url)
    assert "100/min" in listed.stdout  # `taskq queues` does not apply the file
    worker = procs.start("worker", "--database", database_url, http=False, name="worker")
    worker.wait_log("queue api: not paused, concurrency 3, rate limit none, per key 1")
    listed = procs.run("queues", "list", "--database", database_url)
    assert "100/min" not in listed.stdout


def test_a_bad_rate_in_taskq_toml_stops_the_start_with_its_reason(
    procs: Processes, database_url: str
) -> None:
    (procs.workdir / "taskq.toml").write_text(
        '[queue_settings.api]\nrate_limit = "often"\n', encoding="utf-8"
    )
    done = procs.run("worker", "--database", database_url)
    assert done.returncode != 0
    assert "rate_limit must be N/UNIT" in done.stderr
