"""Who a worker is, and whether a worker on this host is still alive.

A worker id is ``host/pid/process-token/n``. On the same host (hostname, PID namespace and
boot all equal), a pid that no longer runs, or this pid under another token, is a dead
worker for sure: its tasks can be recovered at once instead of after their lease lapses.
"""

from __future__ import annotations

import itertools
import os
import socket
import uuid
from pathlib import Path


def _local_key() -> str:
    """What "same host" must mean to trust a pid: one hostname, one PID namespace, one boot.

    Containers can share a hostname (Kubernetes hostNetwork pods share the node's) while
    each sees only its own processes: a pid missing there says nothing about the other.
    """
    parts = [socket.gethostname().replace("/", "_")]
    for path in ("/proc/self/ns/pid", "/proc/sys/kernel/random/boot_id"):
        try:
            text = os.readlink(path) if path.endswith("/pid") else Path(path).read_text()
        except OSError:
            continue  # not Linux: the hostname alone
        parts.append("".join(ch for ch in text if ch.isalnum())[:16])
    return ":".join(parts)


LOCAL_KEY = _local_key()
# what GET /workers shows as a worker's host
HOSTNAME = socket.gethostname()
# Tells this process's worker ids from a previous process that had the same pid.
PROCESS_TOKEN = uuid.uuid4().hex[:8]
_worker_numbers = itertools.count(1)


def new_worker_id() -> str:
    """``host/pid/process-token/n``: enough to tell, on the same host, a dead worker."""
    return f"{LOCAL_KEY}/{os.getpid()}/{PROCESS_TOKEN}/{next(_worker_numbers)}"


def is_dead_local_worker(worker_id: str) -> bool:
    """True when ``worker_id`` belongs to a process on this host that no longer runs.

    Only a sure answer counts: another host's (or PID namespace's) workers, or a pid that
    is alive (even if reused), are left to lease expiry.
    """
    try:
        host, pid_text, token, _ = worker_id.split("/")
        pid = int(pid_text)
    except ValueError:
        return False
    if host != LOCAL_KEY:
        return False
    if pid == os.getpid():
        return token != PROCESS_TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
