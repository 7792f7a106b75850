"""Fixtures of the command-line tests: one real ``taskq run`` per module and database, and
the ``taskq`` script run as a subprocess against it, through a pipe or a pseudo-terminal.

Tests share the service: each one names its own queue (``queue``) and looks only there.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import struct
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from tests.conftest import DATABASES, _create_database, _drop_database, need_service
from tests.system import conftest as system
from tests.system.procs import TASKQ, Processes, TaskqProcess, clean_env

import taskq

procs = system.procs
pytest_runtest_makereport = system.pytest_runtest_makereport

ACTIONS_MODULE = "cli_actions"
ACTIONS_SOURCE = """\
import taskq


@taskq.action("explode", max_attempts=1)
def explode(data):
    raise RuntimeError(f"boom {data.get('n')}")
"""
# rich reads these to decide on colour and animation: the tests set them, or nothing does
RICH_ENV = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def start_service(procs: Processes, database_url: str, *extra: str) -> TaskqProcess:
    """``taskq run`` with the test actions; the demo actions take 20 ms."""
    (procs.workdir / f"{ACTIONS_MODULE}.py").write_text(ACTIONS_SOURCE)
    service = procs.start_run(
        database_url,
        delay_ms=20,
        lease_s=30,
        concurrency=4,
        name="run",
        extra=("--actions", ACTIONS_MODULE, "--poll-interval-s", "0.1", *extra),
    )
    service.wait_ready()
    return service


@pytest.fixture(scope="module", params=DATABASES)
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of its own for the module: a SQLite file, or a PostgreSQL
    database created for it and dropped afterwards."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("cli-db") / "tasks.db")
        taskq.migrate(url)
        yield url
        return
    need_service("PostgreSQL", "127.0.0.1", 5432)
    url = _create_database("taskq_test_cli")
    try:
        taskq.migrate(url)
        yield url
    finally:
        _drop_database(url)


@pytest.fixture(scope="module")
def service(
    module_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TaskqProcess]:
    """One ``taskq run`` for the module's tests; killed (by pid) at the end."""
    processes = Processes(tmp_path_factory.mktemp("cli-service"))
    try:
        yield start_service(processes, module_database)
    finally:
        processes.kill_all()


@pytest.fixture
def queue() -> str:
    """A queue no other test uses."""
    return f"q-{uuid.uuid4().hex[:10]}"


def cli_env(url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a ``taskq`` command: no TASKQ_* nor rich setting of the caller's,
    ``TASKQ_URL`` set to ``url``, then ``extra``."""
    env = {k: v for k, v in clean_env().items() if k not in RICH_ENV}
    if url is not None:
        env["TASKQ_URL"] = url
    env.update(extra)
    return env


@dataclass
class Cli:
    """Runs ``taskq`` against one service, its output through pipes (not a terminal)."""

    url: str | None

    def __call__(
        self, *args: str, stdin: str | None = None, timeout_s: float = 30, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TASKQ, *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            env=cli_env(self.url, **env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def ok(self, *args: str, **env: str) -> str:
        """The stdout of a command that must exit 0."""
        done = self(*args, **env)
        assert done.returncode == 0, f"taskq {' '.join(args)}: {done.returncode}\n{done.stderr}"
        return done.stdout


@pytest.fixture
def cli(service: TaskqProcess) -> Cli:
    return Cli(service.url)


@dataclass
class OnTty:
    """A ``taskq`` command on a pseudo-terminal (stdout and stderr), 120 x 40."""

    popen: subprocess.Popen[bytes]
    master: int
    output: bytes = b""

    @classmethod
    def start(cls, url: str, *args: str, **env: str) -> OnTty:
        master, slave = pty.openpty()
        import fcntl
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        popen = subprocess.Popen(
            [TASKQ, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=cli_env(url, TERM="xterm-256color", **env),
            start_new_session=True,
        )
        os.close(slave)
        return cls(popen, master)

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def read_until(self, seen: Callable[[str], bool], timeout_s: float = 20) -> str:
        """Read the terminal until ``seen(all output so far)`` or the command ends."""
        deadline = time.monotonic() + timeout_s
        while not seen(self.text):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; the terminal shows:\n{self.text}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the command closed the terminal
                    chunk = b""
                if not chunk:
                    break
                self.output += chunk
        return self.text

    def finish(self, timeout_s: float = 20) -> int:
        """Read everything until the command exits; its exit status."""
        self.read_until(lambda _: False, timeout_s)
        return self.popen.wait(timeout=timeout_s)

    def interrupt(self) -> None:
        self.popen.send_signal(signal.SIGINT)

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def on_tty(service: TaskqProcess) -> Iterator[Callable[..., OnTty]]:
    """Starts ``taskq`` commands on pseudo-terminals; kills what is left at the end."""
    started: list[OnTty] = []

    def start(*args: str, **env: str) -> OnTty:
        terminal = OnTty.start(service.url, *args, **env)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.close()


def colour_codes(text: str) -> list[str]:
    """The SGR escape sequences in ``text`` that set a colour (not bold, not a reset)."""
    found = []
    for match in SGR.finditer(text):
        params = [int(p) for p in match[1].split(";") if p]
        if any(30 <= p <= 38 or 40 <= p <= 48 or 90 <= p <= 107 for p in params):
            found.append(match[0])
    return found


def one_line(stderr: str) -> str:
    """``stderr`` is exactly one line, and no traceback: that line."""
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


def post(url: str, action: str, data: dict[str, object] | None = None, **fields: object) -> str:
    """Submit a task over HTTP (a test's setup, quicker than a command); its id."""
    response = httpx.post(f"{url}/tasks", json={"action": action, "data": data, **fields})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def finished(url: str, task_id: str) -> dict[str, object]:
    """The task once it is finished (GET /tasks/{id}?wait=)."""
    response = httpx.get(f"{url}/tasks/{task_id}", params={"wait": 20}, timeout=30)
    task: dict[str, object] = response.json()
    assert task["status"] in ("completed", "failed", "cancelled"), task
    return task
