"""Starting and always killing the subprocesses the benchmark runs.

Every process is started in its own session, so its pid is also its process-group id; stopping
sends SIGTERM to that group, waits a bounded time, then SIGKILLs the group. That also ends the
children a library forks (Celery's pool, Dramatiq's and Taskiq's worker processes, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from benchmarks.config import REPO_ROOT, WORK_DIR

LOG_DIR = WORK_DIR / "logs"
_live: dict[int, subprocess.Popen[bytes]] = {}


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def log_file(name: str) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return LOG_DIR / f"{name}.log"


def start(
    argv: Sequence[str], name: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log: IO[bytes] = log_file(name).open("ab")
    proc = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        env=bench_env(env),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    _live[proc.pid] = proc
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the process group led by `proc.pid`, then SIGKILL it after `timeout`."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    # Kill the group even if the leader exited: forked children may still be around.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    _live.pop(proc.pid, None)


def stop_all() -> None:
    for proc in list(_live.values()):
        stop(proc, timeout=2.0)


@contextlib.contextmanager
def running(
    specs: Sequence[tuple[Sequence[str], dict[str, str]]], name: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, (argv, env) in enumerate(specs):
            procs.append(start(argv, f"{name}-{i}", env))
        yield procs
    finally:
        for proc in procs:
            stop(proc)


def check_alive(procs: Sequence[subprocess.Popen[bytes]], name: str) -> None:
    for proc in procs:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{name} process exited early (code {proc.returncode}); see {log_file(name + '-0')}"
            )


class DriverError(RuntimeError):
    pass


def run_driver(
    system: str,
    op: str,
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run `python -m benchmarks.drive SYSTEM OP --opt value...` and return its JSON result."""
    argv = [sys.executable, "-m", "benchmarks.drive", system, op]
    for key, value in options.items():
        if value is True:
            argv.append(f"--{key}")
        elif value not in (None, False):
            argv += [f"--{key}", str(value)]
    log_path = log_file(f"{system}-{op}")
    log_path.unlink(missing_ok=True)  # the result is read back from this log
    proc = start(argv, f"{system}-{op}", env)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise DriverError(f"{op} timed out after {timeout:.0f}s") from exc
    finally:
        stop(proc)
    result: dict[str, Any] | None = None
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("BENCHRESULT "):
            result = json.loads(line.removeprefix("BENCHRESULT "))
    if result is None:
        raise DriverError(f"{op} printed no result (exit {proc.returncode}); see {log_path}")
    if "error" in result:
        raise DriverError(f"{op}: {result['error']}")
    return result


def wait_port(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not open after {timeout:.0f}s")
