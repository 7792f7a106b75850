"""Several `taskq worker` processes and one `taskq api` on one database.

A probe actions module logs every run (key, pid, start and end on the machine's monotonic
clock), which shows which process ran a task, how often, and whether two runs overlapped.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system import client, probe, store
from tests.system.procs import TASKQ, Processes, TaskqProcess

import taskq

pytestmark = pytest.mark.system


def start_cluster(
    procs: Processes, database_url: str, workers: int, *worker_args: str
) -> tuple[TaskqProcess, dict[int, TaskqProcess]]:
    """One `taskq api`, then ``workers`` `taskq worker`s, all up; the workers by pid.

    The API is up before the workers start: starting them all at once on a freshly migrated
    SQLite file is its own test (the one below about starting while another process writes).
    """
    api = procs.start("api", "--database", database_url, name="api")
    api.wait_ready()
    started = [
        procs.start(
            "worker",
            "--database",
            database_url,
            "--actions",
            probe.MODULE,
            "--poll-interval-s",
            "0.05",
            *worker_args,
            http=False,
            name=f"worker-{k}",
        )
        for k in range(1, workers + 1)
    ]
    for worker in started:
        worker.wait_log("started: concurrency=")
    return api, {w.pid: w for w in started}


# Another process writing in a loop, as a migrator or an earlier taskq process does.
WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
while True:
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE tasks SET priority = 0 WHERE seq < 0")
        conn.execute("COMMIT")
    except sqlite3.OperationalError:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
"""


def test_workers_start_on_a_freshly_migrated_sqlite_file_while_another_process_writes(
    procs: Processes, tmp_path: Path
) -> None:
    """`taskq migrate` leaves the file in rollback-journal mode and each starting process
    switches it to WAL; a process starting while another one writes (as a migrator or an
    earlier taskq process does) must wait for its turn, not exit with "database is locked"."""
    for round_ in range(2):
        database = str(tmp_path / f"round-{round_}" / "tasks.db")
        migrated = procs.run("migrate", "--database", database)
        assert migrated.returncode == 0, migrated.stderr
        writer = procs.spawn([sys.executable, "-c", WRITER, database], name=f"writer-{round_}")
        workers = [
            procs.start(
                "worker", "--database", database, http=False, name=f"round-{round_}-worker-{k}"
            )
            for k in range(1, 4)
        ]
        for worker in workers:
            worker.wait_log("started: concurrency=")
        assert writer.is_running(), writer.describe()
        for process in [writer, *workers]:
            process.kill_group()


def test_three_workers_complete_every_task_once_and_never_run_one_concurrently(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    n = 60
    runs_log = probe.write_module(tmp_path)
    api, workers = start_cluster(
        procs, database_url, 3, "--concurrency", "2", "--prefetch", "2", "--lease-s", "60"
    )
    with httpx.Client(base_url=api.url, timeout=5) as http:
        keys = {
            client.submit(http, "record", {"key": f"k{i}", "sleep_s": 0.05}): f"k{i}"
            for i in range(n)
        }
        tasks = client.wait_terminal(http, set(keys), 20, details=procs.describe)

    runs = probe.read_runs(runs_log)
    overlaps = probe.overlapping(runs)
    assert not overlaps, f"a task ran in two places at once: {overlaps}"
    runs_by_key = {r.key: r for r in runs}
    assert len(runs) == n == len(runs_by_key), f"{len(runs)} runs for {n} tasks"
    assert all(r.end_ns is not None for r in runs)
    assert {r.pid for r in runs} <= set(workers)
    assert len({r.pid for r in runs}) >= 2, "one worker ran everything: nothing was shared"
    for task_id, key in keys.items():
        task = tasks[task_id]
        assert task["status"] == "completed", task
        assert task["attempts"] == 1, task
        assert task["result"] == {"key": key, "pid": runs_by_key[key].pid}, task
    stored = store.tasks_by_id(database_url)
    assert set(stored) == set(keys)
    assert all(row["status"] == "completed" for row in stored.values())

    for process in [*workers.values(), api]:
        process.send(signal.SIGTERM)
    for process in [*workers.values(), api]:
        assert process.wait_exit(10) == 0, process.describe()


def start_remote_worker(procs: Processes, database_url: str, *worker_args: str) -> TaskqProcess:
    """A `taskq worker` that looks like it runs on another machine: its own UTS namespace
    with another hostname, so nobody here can tell it died except by its lease lapsing."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to fake another host")
    command = shlex.join(
        [
            TASKQ,
            "worker",
            "--database",
            database_url,
            "--actions",
            probe.MODULE,
            "--poll-interval-s",
            "0.05",
            *worker_args,
        ]
    )
    argv = ["unshare", "--uts", "sh", "-c", f"hostname taskq-other-host && exec {command}"]
    worker = procs.spawn(argv, name="remote-worker")
    worker.wait_log("started: concurrency=")
    return worker


def assert_taken_over_once(
    task: dict[str, Any],
    runs: list[probe.Run],
    victim: TaskqProcess,
    survivor: TaskqProcess,
    database_url: str,
) -> None:
    assert [(r.pid, r.end_ns is not None) for r in runs] == [
        (victim.pid, False),
        (survivor.pid, True),
    ], runs
    assert task["status"] == "completed", task
    assert task["attempts"] == 2, task
    assert task["result"] == {"key": "slow", "pid": survivor.pid}, task
    assert [e["attempt"] for e in task["errors"]] == [1], task
    assert "worker lost" in task["errors"][0]["error"], task
    stored = store.tasks_by_id(database_url)
    assert list(stored) == [task["id"]]
    assert stored[task["id"]]["status"] == "completed"
    assert survivor.is_running(), survivor.describe()


def test_kill9_of_a_worker_on_this_host_hands_its_task_over_at_once(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    """The dead pid is seen within a second: no waiting for its (long) lease."""
    lease_s = 60.0
    runs_log = probe.write_module(tmp_path)
    api, workers = start_cluster(
        procs, database_url, 2, "--concurrency", "1", "--prefetch", "0", "--lease-s", str(lease_s)
    )
    with httpx.Client(base_url=api.url, timeout=5) as http:
        task_id = client.submit(http, "record", {"key": "slow", "sleep_s": 1.0})
        (first,) = wait_until(lambda: probe.read_runs(runs_log), 10, what="the task to start")
        victim = workers.pop(first.pid)
        (survivor,) = workers.values()
        victim.kill9()
        task = client.wait_terminal(http, {task_id}, 10, details=procs.describe)[task_id]

    runs = sorted(probe.read_runs(runs_log), key=lambda r: r.start_ns)
    assert runs[1].start_ns - first.start_ns < lease_s * 1e9 / 4, "waited for the lease"
    assert_taken_over_once(task, runs, victim, survivor, database_url)


def test_kill9_of_a_worker_on_another_host_is_taken_over_once_its_lease_lapses(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    """A machine that vanishes: only its lease lapsing tells; then another worker finishes
    the task, exactly once."""
    lease_s = 2.0
    runs_log = probe.write_module(tmp_path)
    api, workers = start_cluster(
        procs, database_url, 1, "--concurrency", "1", "--prefetch", "0", "--lease-s", str(lease_s)
    )
    (survivor,) = workers.values()
    survivor.send(signal.SIGSTOP)  # so the remote worker takes the task
    victim = start_remote_worker(
        procs, database_url, "--concurrency", "1", "--prefetch", "0", "--lease-s", str(lease_s)
    )
    with httpx.Client(base_url=api.url, timeout=5) as http:
        task_id = client.submit(http, "record", {"key": "slow", "sleep_s": 1.0})
        (first,) = wait_until(lambda: probe.read_runs(runs_log), 10, what="the task to start")
        assert first.pid == victim.pid
        victim.kill9()
        survivor.send(signal.SIGCONT)
        task = client.wait_terminal(http, {task_id}, 3 * lease_s + 5, details=procs.describe)[
            task_id
        ]

    runs = sorted(probe.read_runs(runs_log), key=lambda r: r.start_ns)
    assert runs[1].start_ns >= first.start_ns + lease_s * 1e9, "taken over before the lease lapsed"
    assert_taken_over_once(task, runs, victim, survivor, database_url)


def test_sigterm_keeps_the_lease_of_a_task_that_finishes_within_the_grace_period(
    procs: Processes, tmp_path: Path, database_url: str
) -> None:
    """A task finishing in the grace period must not be taken over by another worker."""
    # beats every lease_s/3: a 2 s lease leaves room for a loaded 2-core machine, while a
    # worker that stopped renewing at SIGTERM would still lose the task within the 6 s run
    lease_s, grace_s = 2.0, 12.0
    runs_log = probe.write_module(tmp_path)
    api, workers = start_cluster(
        procs,
        database_url,
        2,
        "--concurrency",
        "1",
        "--prefetch",
        "0",
        "--lease-s",
        str(lease_s),
        "--grace-s",
        str(grace_s),
    )
    with httpx.Client(base_url=api.url, timeout=5) as http:
        task_id = client.submit(http, "record", {"key": "graceful", "sleep_s": 3 * lease_s})
        (first,) = wait_until(lambda: probe.read_runs(runs_log), 10, what="the task to start")
        stopping = workers.pop(first.pid)
        stopping.send(signal.SIGTERM)
        assert stopping.wait_exit(grace_s + 5) == 0, stopping.describe()
        task = client.wait_terminal(http, {task_id}, 10, details=procs.describe)[task_id]

    runs = probe.read_runs(runs_log)
    assert not probe.overlapping(runs), f"taken over while it still ran in grace: {runs}"
    assert [(r.pid, r.end_ns is not None) for r in runs] == [(stopping.pid, True)], runs
    assert task["status"] == "completed", task
    assert task["attempts"] == 1, task
    assert task["result"] == {"key": "graceful", "pid": stopping.pid}, task


def test_sigterm_past_the_grace_period_never_lets_a_task_run_in_two_processes_at_once(
    procs: Processes, tmp_path: Path, sqlite_url: str
) -> None:
    """A sync handler still running after the grace period (and the cancel grace) keeps its
    task: the stopping process exits at once instead of re-queueing it, and the other worker
    recovers it only then (the pid is dead), so it never runs in two processes at once.
    (The worker's shutdown, not the driver, decides this: SQLite only, to save time.)"""
    database_url = sqlite_url
    taskq.migrate(database_url)
    grace_s, cancel_grace_s, sleep_s = 0.5, 0.5, 3.0
    runs_log = probe.write_module(tmp_path)
    api, workers = start_cluster(
        procs,
        database_url,
        2,
        "--concurrency",
        "1",
        "--prefetch",
        "0",
        "--lease-s",
        "60",
        "--grace-s",
        str(grace_s),
        "--cancel-grace-s",
        str(cancel_grace_s),
    )
    with httpx.Client(base_url=api.url, timeout=5) as http:
        task_id = client.submit(http, "record", {"key": "stubborn", "sleep_s": sleep_s})
        (first,) = wait_until(lambda: probe.read_runs(runs_log), 10, what="the task to start")
        stopping = workers.pop(first.pid)
        signalled = time.monotonic()
        stopping.send(signal.SIGTERM)
        assert stopping.wait_exit(sleep_s + 10) == 0, stopping.describe()
        exit_s = time.monotonic() - signalled
        task = client.wait_terminal(http, {task_id}, sleep_s + 10, details=procs.describe)[task_id]

    # a run cut short by its process's exit ended when the process did
    stopped_ns = int((signalled + exit_s) * 1e9)
    runs = [
        dataclasses.replace(r, end_ns=stopped_ns)
        if r.pid == stopping.pid and r.end_ns is None
        else r
        for r in probe.read_runs(runs_log)
    ]
    problems = []
    if probe.overlapping(runs):
        problems.append(f"ran in two processes at once: {probe.overlapping(runs)}")
    if exit_s > grace_s + cancel_grace_s + 1.5:
        problems.append(
            f"exited {exit_s:.1f}s after SIGTERM with grace {grace_s}s + cancel grace "
            f"{cancel_grace_s}s"
        )
    assert not problems, "; ".join(problems)
    assert task["status"] == "completed", task
