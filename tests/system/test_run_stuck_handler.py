"""`taskq run` composes the API and a worker in the CLI; the CLI still ends a process whose
sync handler ignores cancellation, once the server has stopped."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system import client, store
from tests.system.procs import Processes

import taskq

pytestmark = pytest.mark.system

MODULE = "stuck_actions"
SOURCE = """
import time

import taskq


@taskq.action("stuck")
def stuck(data):
    time.sleep(120)  # never polls taskq.is_cancelled()
"""


def test_run_exits_0_soon_after_sigterm_though_a_sync_handler_will_not_stop(
    procs: Processes, tmp_path: Path, sqlite_url: str
) -> None:
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    taskq.migrate(sqlite_url)  # what happens to a stuck thread does not depend on the driver
    service = procs.start(
        "run",
        "--database",
        sqlite_url,
        "--actions",
        MODULE,
        "--concurrency",
        "1",
        "--grace-s",
        "0.3",
        "--cancel-grace-s",
        "0.2",
    )
    service.wait_ready()
    with httpx.Client(base_url=service.url, timeout=5) as http:
        task_id = client.submit(http, "stuck", {})
        wait_until(lambda: client.get(http, task_id)["status"] == "running", 10, what="running")

    signalled = time.monotonic()
    service.send(signal.SIGTERM)
    # without the exit, the interpreter would wait the handler's 120 s for its thread
    assert service.wait_exit(15) == 0, service.describe()
    assert time.monotonic() - signalled < 10, service.describe()
    assert "handler threads still running" in service.log(), service.describe()
    # still held by the ended process: lease recovery hands it on, never a second thread here
    assert store.tasks_by_id(sqlite_url)[task_id]["status"] == "running"
