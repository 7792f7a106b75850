"""Telling a dead local worker from a live or remote one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from taskq.worker.identity import LOCAL_KEY, PROCESS_TOKEN, is_dead_local_worker, new_worker_id


def test_this_process_is_alive() -> None:
    assert not is_dead_local_worker(new_worker_id())


def test_a_previous_process_with_the_same_pid_is_dead() -> None:
    assert PROCESS_TOKEN != "deadbeef"
    assert is_dead_local_worker(f"{LOCAL_KEY}/{os.getpid()}/deadbeef/1")


def test_an_exited_process_is_dead() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(child.stdout)
    assert is_dead_local_worker(f"{LOCAL_KEY}/{pid}/abcd1234/1")


def test_other_hosts_and_garbage_are_left_to_the_lease() -> None:
    assert not is_dead_local_worker("some-other-host/1/abcd1234/1")
    assert not is_dead_local_worker("not a worker id")


def test_same_hostname_in_another_pid_namespace_is_not_local() -> None:
    # e.g. two Kubernetes hostNetwork pods: one hostname, separate process tables
    hostname_only = socket.gethostname()
    assert LOCAL_KEY.startswith(hostname_only)
    if hostname_only != LOCAL_KEY:  # on Linux the key also names the PID namespace and boot
        assert not is_dead_local_worker(f"{hostname_only}:pid1:boot1/999999/abcd1234/1")
