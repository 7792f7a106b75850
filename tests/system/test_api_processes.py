"""`taskq api --processes N`: N server processes forked on one port, each a whole service.
Every 202 is one stored task, whichever process answered; a child killed is replaced;
SIGTERM stops them all gracefully and the parent exits 0."""

from __future__ import annotations

import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system.procs import Processes, TaskqProcess

pytestmark = pytest.mark.system

STARTED = re.compile(r"Started server process \[(\d+)\]")


def children(api: TaskqProcess) -> set[int]:
    """The pids of the API's children that are alive."""
    found = {int(pid) for pid in STARTED.findall(api.log())}
    return {pid for pid in found if _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split()[2] != "Z"  # reaped soon by the parent; not serving


def test_two_processes_share_the_port_and_store_each_task_once(
    procs: Processes, database_url: str
) -> None:
    api = procs.start("api", "--database", database_url, "--processes", "2", name="api")
    api.wait_ready()
    wait_until(lambda: len(children(api)) == 2, 10, what="two API processes")
    assert "serving with 2 processes" in api.log()

    def submit(n: int) -> tuple[int, str]:
        response = httpx.post(
            f"{api.url}/tasks", json={"action": "noop", "data": {"n": n}, "delay": 3600}, timeout=10
        )
        return response.status_code, response.json()["id"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, range(300)))
    assert {code for code, _ in answers} == {202}
    ids = {task_id for _, task_id in answers}
    assert len(ids) == 300
    counts = httpx.get(f"{api.url}/stats", timeout=5).json()["counts"]
    assert counts["queued"] == 300

    # a child killed is replaced; the port keeps answering meanwhile
    first, second = sorted(children(api))
    os.kill(first, signal.SIGKILL)
    assert httpx.get(f"{api.url}/healthz", timeout=5).status_code == 200
    wait_until(
        lambda: len(children(api)) == 2 and first not in children(api),
        10,
        what="the killed process to be replaced",
        details=api.describe,
    )
    assert "exited (-9) on its own; starting another" in api.log()
    assert second in children(api)

    api.send(signal.SIGTERM)
    assert api.wait_exit(30) == 0
    assert not children(api)


def test_memory_store_refuses_more_than_one_process(procs: Processes) -> None:
    done = procs.run("run", "--database", "memory://", "--processes", "2", "--port", "0")
    assert done.returncode != 0
    assert "memory:// lives in one process" in done.stderr
