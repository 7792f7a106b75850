"""Starting, signalling and always killing real ``taskq`` processes.

Every process starts in its own session (its pid is its process-group id), writes stdout and
stderr to one log file in the test's tmp dir, and is SIGKILLed by pid when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.support.waiting import wait_until

TASKQ = str(Path(sys.executable).with_name("taskq"))
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    """A TCP port nothing listens on right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any TASKQ_* setting the caller may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class TaskqProcess:
    """One running ``taskq`` command."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} serves no HTTP"
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def describe(self) -> str:
        text = self.log()
        if len(text) > LOG_TAIL_CHARS:
            text = "…" + text[-LOG_TAIL_CHARS:]
        state = "running" if self.popen.poll() is None else f"exited {self.popen.returncode}"
        return f"--- {self.name} (pid {self.pid}, {state}): {' '.join(self.argv)}\n{text}"

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def kill9(self) -> None:
        """SIGKILL the process and reap it."""
        self.send(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def wait_exit(self, timeout_s: float) -> int:
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} did not exit within {timeout_s}s\n{self.describe()}"
            ) from None

    def _alive_or_fail(self) -> None:
        if not self.is_running():
            raise AssertionError(f"{self.name} exited early\n{self.describe()}")

    def wait_ready(self, timeout_s: float = 15.0) -> None:
        """Wait until GET /readyz answers 200 (the API is up and its store answers)."""

        def ready() -> bool:
            self._alive_or_fail()
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s, what=f"{self.name} to be ready", details=self.describe)

    def wait_log(self, text: str, timeout_s: float = 15.0) -> None:
        def logged() -> bool:
            self._alive_or_fail()
            return text in self.log()

        wait_until(logged, timeout_s, what=f"{text!r} in {self.name}'s log", details=self.describe)

    def kill_group(self) -> None:
        """SIGKILL the process group led by this pid (whatever state it is in); bounded wait."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


@dataclass
class Processes:
    """The taskq processes of one test, started in ``workdir``; ``kill_all`` ends them."""

    workdir: Path
    started: list[TaskqProcess] = field(default_factory=list)

    def start(
        self,
        command: str,
        *args: str,
        name: str | None = None,
        http: bool = True,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> TaskqProcess:
        """``taskq <command> <args>`` in the background; ``http`` gives it a free port;
        ``env`` adds environment variables (e.g. ``TASKQ_<NAME>`` settings)."""
        name = name or f"{command}-{len(self.started) + 1}"
        argv = [TASKQ, command, *args]
        port = None
        if http:
            port = free_port()
            argv += ["--host", "127.0.0.1", "--port", str(port)]
        return self.spawn(argv, name=name, port=port, cwd=cwd, env=env)

    def start_run(
        self,
        database_url: str,
        *,
        delay_ms: object,
        lease_s: object,
        concurrency: object = 2,  # taskq's default
        name: str,
        extra: tuple[str, ...] = (),
    ) -> TaskqProcess:
        """``taskq run`` on ``database_url`` with the demo delay, concurrency and lease given."""
        return self.start(
            "run",
            "--database",
            database_url,
            "--demo-delay-ms",
            str(delay_ms),
            "--concurrency",
            str(concurrency),
            "--lease-s",
            str(lease_s),
            *extra,
            name=name,
        )

    def spawn(
        self,
        argv: list[str],
        *,
        name: str,
        port: int | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> TaskqProcess:
        """Any command in the background, logged and killed like a taskq process."""
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                argv,
                cwd=cwd or self.workdir,
                env=clean_env(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = TaskqProcess(name, argv, popen, log_path, port)
        self.started.append(proc)
        return proc

    def run(
        self, command: str, *args: str, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``taskq <command> <args>`` to completion (bounded), capturing its output."""
        return subprocess.run(
            [TASKQ, command, *args],
            cwd=cwd or self.workdir,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def describe(self) -> str:
        return "\n".join(p.describe() for p in self.started)

    def kill_all(self) -> None:
        for proc in self.started:
            proc.kill_group()
