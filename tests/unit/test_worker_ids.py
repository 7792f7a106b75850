"""Telling a dead local worker from a live or remote one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from taskq.worker.identity import LOCAL_KEY, PROCESS_TOKEN, is_dead_local_worker, new_worker_id


def test_this_process_is_alive() -> None:
    assert not is_dead_local_worker(new_worker_id())


def test_a_previous_process_with_the_same_pid_is_dead() -> None:
    assert PROCESS_TOKEN != "deadbeef"
    assert is_dead_local_worker(f"{LOCAL_KEY}/{os.getpid()}/deadbeef/1")


def exited_pid() -> int:
    """The pid of a child process that has already exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_an_exited_process_is_dead() -> None:
    assert is_dead_local_worker(f"{LOCAL_KEY}/{exited_pid()}/abcd1234/1")


def test_other_hosts_and_garbage_are_left_to_the_lease() -> None:
    assert not is_dead_local_worker(f"some-other-host/{exited_pid()}/abcd1234/1")
    assert not is_dead_local_worker("not a worker id")


def test_same_hostname_in_another_pid_namespace_is_not_local() -> None:
    # e.g. two Kubernetes hostNetwork pods: one hostname, separate process tables
    pid = exited_pid()
    elsewhere = f"{socket.gethostname()}:pid1:boot1"
    assert elsewhere != LOCAL_KEY
    assert is_dead_local_worker(f"{LOCAL_KEY}/{pid}/abcd1234/1"), "dead when it is ours"
    assert not is_dead_local_worker(f"{elsewhere}/{pid}/abcd1234/1")


@pytest.mark.skipif(sys.platform != "linux", reason="names the PID namespace and boot on Linux")
def test_on_linux_a_bare_hostname_is_not_local() -> None:
    """The local key names the PID namespace and the boot besides the hostname, so a
    worker id carrying the hostname alone could come from another namespace."""
    hostname, pid = socket.gethostname(), exited_pid()
    assert LOCAL_KEY.startswith(f"{hostname}:")
    assert len(LOCAL_KEY.split(":")) == len(hostname.split(":")) + 2
    assert not is_dead_local_worker(f"{hostname}/{pid}/abcd1234/1")
