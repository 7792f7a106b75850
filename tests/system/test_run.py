"""`taskq run` as a user meets it: the walkthrough, user actions that fail, bad actions modules."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from tests.system import client, probe
from tests.system.procs import Processes, free_port

import taskq

pytestmark = pytest.mark.system


def test_run_in_a_fresh_directory_serves_the_seed_walkthrough(
    procs: Processes, tmp_path: Path
) -> None:
    service = procs.start("run")  # no --database: the default ./data/tasks.db
    service.wait_ready()
    assert (tmp_path / "data" / "tasks.db").is_file(), "the default database was not created"
    assert "API and worker on SQLite ./data/tasks.db" in service.log(), "the log names its store"

    with httpx.Client(base_url=service.url, timeout=5) as http:
        response = http.post(
            "/tasks",
            json={"action": "uppercase", "data": {"text": "hello world"}},
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 202, response.text
        assert set(response.json()) == {"id", "status"}
        assert response.json()["status"] == "queued"
        upper = response.json()["id"]
        total = client.submit(http, "sum", {"numbers": [1, 2, 3.5]})
        other = client.submit(http, "send_email", {"to": "someone"})

        tasks = client.wait_terminal(http, {upper, total, other}, 15, details=procs.describe)

        expected = {
            upper: {"output": "HELLO WORLD"},
            total: {"output": 6.5},
            other: {"output": "processed"},
        }
        for task_id, result in expected.items():
            task = tasks[task_id]
            assert task["status"] == "completed", task
            assert task["result"] == result, task
            assert task["attempts"] == 1, task
            assert task["created_at"] <= task["started_at"] <= task["processed_at"], task
            assert client.get(http, task_id) == task

        listing = http.get("/tasks").json()
        assert listing["count"] == 3
        assert [t["id"] for t in listing["tasks"]] == [other, total, upper]  # newest first
        completed = http.get("/tasks", params={"status": "completed"}).json()
        assert completed["count"] == 3
        assert http.get("/tasks", params={"status": "queued"}).json()["count"] == 0

    service.send(signal.SIGTERM)
    assert service.wait_exit(15) == 0, service.describe()


def test_failing_user_action_is_retried_then_failed_while_other_tasks_complete(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    probe.write_module(tmp_path)
    service = procs.start(
        "run",
        "--database",
        database_url,
        "--actions",
        probe.MODULE,
        "--max-attempts",
        "2",
        "--demo-delay-ms",
        "10",
    )
    service.wait_ready()

    with httpx.Client(base_url=service.url, timeout=5) as http:
        boom = client.submit(http, "boom", {"key": "b1"})
        refuse = client.submit(http, "refuse", {"key": "r1"})
        before = [client.submit(http, "uppercase", {"text": f"before {i}"}) for i in range(3)]
        client.wait_terminal(http, {refuse, *before}, 10, details=procs.describe)
        tasks = client.wait_terminal(http, {boom}, 15, details=procs.describe)
        # the worker is still consuming after the failures
        after = [client.submit(http, "sum", {"numbers": [i, 1]}) for i in range(3)]
        tasks = client.wait_terminal(http, {*before, *after}, 10, details=procs.describe)

    failed = tasks[boom]
    assert failed["status"] == "failed", failed
    assert failed["attempts"] == 2, failed
    assert failed["error"] == "RuntimeError: boom b1", failed
    assert [e["attempt"] for e in failed["errors"]] == [1, 2], failed
    for attempt_error in failed["errors"]:
        assert attempt_error["error"] == "RuntimeError: boom b1"
        assert "RuntimeError: boom b1" in attempt_error["traceback"]
    assert failed["result"] is None

    refused = tasks[refuse]  # taskq.Fail: failed at once, not retried
    assert refused["status"] == "failed", refused
    assert refused["attempts"] == 1, refused
    assert refused["error"] == "refused r1", refused

    for i, task_id in enumerate(before):
        assert tasks[task_id]["status"] == "completed", tasks[task_id]
        assert tasks[task_id]["result"] == {"output": f"BEFORE {i}"}
    for i, task_id in enumerate(after):
        assert tasks[task_id]["status"] == "completed", tasks[task_id]
        assert tasks[task_id]["result"] == {"output": i + 1}
    assert service.is_running(), service.describe()


BAD_MODULES = {
    "missing": None,
    "syntax_error": "def broken(:\n",
    "raises_on_import": "raise RuntimeError('no config here')\n",
    "no_actions": "import taskq\n\n\ndef not_marked(data):\n    return data\n",
}


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        *(("run", kind) for kind in sorted(BAD_MODULES)),
        ("worker", "missing"),
        ("worker", "raises_on_import"),
    ],
)
def test_bad_actions_module_exits_nonzero_with_one_line_error(
    procs: Processes, tmp_path: Path, sqlite_url: str, command: str, kind: str
) -> None:
    taskq.migrate(sqlite_url)  # loading actions does not depend on the driver
    module = f"bad_{kind}"
    source = BAD_MODULES[kind]
    if source is not None:
        (tmp_path / f"{module}.py").write_text(source)
    args = ["--database", sqlite_url, "--actions", module]
    if command == "run":
        args += ["--port", str(free_port())]
    done = procs.run(command, *args)

    assert done.returncode != 0, done
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, f"expected a one-line error, got:\n{done.stderr}"
    assert module in lines[0], lines[0]


def test_run_on_the_memory_store_needs_no_file(procs: Processes, tmp_path: Path) -> None:
    """The seed's in-memory store: tasks are served and run, and nothing is written."""
    service = procs.start("run", "--database", "memory://")
    service.wait_ready()
    assert "on memory (nothing survives a restart)" in service.log()
    with httpx.Client(base_url=service.url, timeout=5) as http:
        upper = client.submit(http, "uppercase", {"text": "in memory"})
        tasks = client.wait_terminal(http, {upper}, 15, details=procs.describe)
    assert tasks[upper]["result"] == {"output": "IN MEMORY"}
    service.send(signal.SIGTERM)
    assert service.wait_exit(15) == 0, service.describe()
    assert not (tmp_path / "data").exists(), "a memory store wrote files"


@pytest.mark.parametrize("command", ["api", "worker"])
def test_memory_store_is_refused_where_processes_would_not_share_it(
    procs: Processes, command: str
) -> None:
    args = ["--port", str(free_port())] if command == "api" else []
    done = procs.run(command, "--database", "memory://", *args)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("taskq: memory:// keeps tasks inside one process")
