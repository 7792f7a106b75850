"""SIGTERM / SIGINT of `taskq run`: stop accepting and claiming, let running tasks finish within
the grace period, hand unstarted ones back, exit 0."""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system import client, store
from tests.system.procs import Processes

import taskq

pytestmark = pytest.mark.system

LEASE_S = "60"


def refuses_connections(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=1)
    except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
        # refused; or accepted in the instant the listener closed, then reset
        return True
    return False


def test_sigterm_lets_running_tasks_finish_and_hands_back_unstarted_ones(
    procs: Processes, database_url: str
) -> None:
    stop_gracefully(procs, database_url, signal.SIGTERM)


def test_sigint_stops_as_gracefully_as_sigterm(procs: Processes, sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)  # signal handling does not depend on the driver
    stop_gracefully(procs, sqlite_url, signal.SIGINT)


def stop_gracefully(procs: Processes, database_url: str, sig: signal.Signals) -> None:
    """Signal `taskq run` with 2 tasks running and 5 prefetched; check what becomes of all."""
    n, concurrency, prefetch, grace_s = 10, 2, 5, 10.0
    service = procs.start_run(
        database_url,
        delay_ms="1500",
        concurrency=str(concurrency),
        lease_s=LEASE_S,
        extra=(
            "--prefetch",
            str(prefetch),
            "--grace-s",
            str(grace_s),
        ),
        name="run-signalled",
    )
    service.wait_ready()
    with httpx.Client(base_url=service.url, timeout=5) as http:
        texts = {client.submit(http, "uppercase", {"text": f"t{i}"}): f"t{i}" for i in range(n)}

        def prefetched() -> set[str] | None:
            """The claimed, unstarted tasks once the worker's hands are full."""
            rows = store.tasks_by_id(database_url).values()
            claimed = {t["id"] for t in rows if t["status"] == "queued" and t["worker_id"]}
            full = client.count(http, "running") == concurrency and len(claimed) == prefetch
            return claimed if full else None

        claimed = wait_until(
            prefetched, 10, what="tasks running and prefetched", details=procs.describe
        )
        running = {t["id"] for t in client.list_all(http, "running")}

    signalled = time.monotonic()
    service.send(sig)
    wait_until(lambda: refuses_connections(service.url), 5, what="the API to stop accepting")
    assert service.is_running(), "exited before its running tasks could have finished"
    assert service.wait_exit(grace_s + 5) == 0, service.describe()
    assert time.monotonic() - signalled < grace_s, "shutdown took longer than the grace period"

    after = store.tasks_by_id(database_url)
    assert set(after) == set(texts)
    completed = {i for i, t in after.items() if t["status"] == "completed"}
    returned = {i for i, t in after.items() if t["status"] == "queued"}
    assert completed | returned == set(texts), f"neither completed nor queued: {after}"
    assert running <= completed, "a task running at the signal did not finish"
    assert claimed & returned, "no prefetched task was handed back"
    for task_id in completed:  # finished once, not interrupted and re-queued
        assert after[task_id]["attempts"] == 1, after[task_id]
    for task_id in returned:
        assert after[task_id]["attempts"] == 0, f"a returned task was counted as run: {after}"
    assert all(t["worker_id"] is None for t in after.values()), f"still held: {after}"

    restarted = procs.start_run(
        database_url, delay_ms="10", concurrency="4", lease_s=LEASE_S, name="run-restarted"
    )
    restarted.wait_ready()
    with httpx.Client(base_url=restarted.url, timeout=5) as http:
        tasks = client.wait_terminal(http, set(texts), 10, details=procs.describe)
    for task_id, text in texts.items():
        task = tasks[task_id]
        assert task["status"] == "completed", task
        assert task["result"] == {"output": text.upper()}, task
        assert task["attempts"] == 1, f"ran more than once: {task}"
        assert task["errors"] == [], task


def test_sigterm_interrupts_a_task_outliving_the_grace_period_and_requeues_it(
    procs: Processes, database_url: str
) -> None:
    grace_s = 0.5
    service = procs.start_run(
        database_url,
        delay_ms="60000",
        concurrency="1",
        lease_s=LEASE_S,
        extra=(
            "--prefetch",
            "0",
            "--grace-s",
            str(grace_s),
        ),
        name="run-signalled",
    )
    service.wait_ready()
    with httpx.Client(base_url=service.url, timeout=5) as http:
        task_id = client.submit(http, "uppercase", {"text": "long"})
        wait_until(lambda: client.get(http, task_id)["status"] == "running", 10, what="running")

    signalled = time.monotonic()
    service.send(signal.SIGTERM)
    assert service.wait_exit(10) == 0, service.describe()
    assert time.monotonic() - signalled < grace_s + 3, "did not stop soon after the grace period"
    row = store.tasks_by_id(database_url)[task_id]
    assert row["status"] == "queued", row
    assert row["worker_id"] is None, row
    assert row["attempts"] == 1, row
    assert row["error"] == "interrupted: worker shut down", row

    restarted = procs.start_run(database_url, delay_ms="10", lease_s=LEASE_S, name="run-restarted")
    restarted.wait_ready()
    with httpx.Client(base_url=restarted.url, timeout=5) as http:
        task = client.wait_terminal(http, {task_id}, 10, details=procs.describe)[task_id]
    assert task["status"] == "completed", task
    assert task["result"] == {"output": "LONG"}, task
    assert task["attempts"] == 2, task
