"""Slow and oversized requests against a real `taskq run`, over raw sockets: each is cut off
within its limit, answered where someone is left to read the answer, and the service goes on
serving. And a busy port is one line on stderr before anything is touched."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.system.procs import Processes, TaskqProcess, free_port

pytestmark = pytest.mark.system

MAX_HEADER_BYTES = 64 * 1024
LIMIT_S = 1.0  # both the header and the body timeout of the service under test
PROMPTLY_S = 3.0  # an answer due at once, or at a deadline, arrives within this
GIVE_UP_S = 10.0  # how long a socket read waits before the test fails


@pytest.fixture
def service(procs: Processes, tmp_path: Path) -> TaskqProcess:
    proc = procs.start(
        "run",
        "--database",
        str(tmp_path / "tasks.db"),
        "--max-header-bytes",
        str(MAX_HEADER_BYTES),
        "--header-timeout-s",
        str(LIMIT_S),
        "--body-timeout-s",
        str(LIMIT_S),
        "--log-level",
        "debug",
    )
    proc.wait_ready()
    return proc


@contextlib.contextmanager
def connect(service: TaskqProcess) -> Iterator[socket.socket]:
    assert service.port is not None
    with socket.create_connection(("127.0.0.1", service.port), timeout=GIVE_UP_S) as sock:
        yield sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP response read from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed inside the answer: {body!r}"
        body += chunk
    return int(status_line.split()[1]), headers, body


def is_closed(sock: socket.socket) -> bool:
    """Whether the server ends the connection (the next read sees its end) in time."""
    sock.settimeout(PROMPTLY_S)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False


def assert_still_serving(service: TaskqProcess) -> None:
    """A normal submission is accepted, and nothing the test sent left a traceback."""
    response = httpx.post(
        f"{service.url}/tasks", json={"action": "uppercase", "data": {"text": "hi"}}, timeout=5
    )
    assert response.status_code == 202, response.text
    assert "Traceback" not in service.log(), service.describe()


def test_oversized_header_is_answered_431_at_once_and_closed(service: TaskqProcess) -> None:
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    with connect(service) as sock:
        started = time.monotonic()
        # a server that answers early may stop reading the rest; the answer must still come
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(big)
        status, headers, body = read_answer(sock)
        answered_s = time.monotonic() - started
        assert status == 431, body
        assert json.loads(body) == {
            "error": f"request headers larger than {MAX_HEADER_BYTES} bytes"
        }
        assert headers["connection"] == "close"
        assert answered_s < PROMPTLY_S, f"answered after {answered_s:.1f}s"
        assert is_closed(sock)
    assert_still_serving(service)


def test_slowly_sent_headers_are_cut_off_with_408(service: TaskqProcess) -> None:
    with connect(service) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        # slowloris: a byte of one endless header every 0.1 s until the server answers
        sock.sendall(b"X-Slow: ")
        while not select.select([sock], [], [], 0.1)[0]:
            assert time.monotonic() - started < GIVE_UP_S, "the slow head was never cut off"
            sock.sendall(b"a")
        status, headers, body = read_answer(sock)
        answered_s = time.monotonic() - started
        assert status == 408, body
        assert json.loads(body) == {"error": "request headers not received in time"}
        assert headers["connection"] == "close"
        assert LIMIT_S * 0.9 <= answered_s < LIMIT_S + PROMPTLY_S, f"after {answered_s:.1f}s"
        assert is_closed(sock)
    assert_still_serving(service)


def test_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    service: TaskqProcess,
) -> None:
    with connect(service) as sock:
        started = time.monotonic()
        sock.settimeout(GIVE_UP_S)
        assert sock.recv(65536) == b"", "an idle connection got an answer"
        closed_s = time.monotonic() - started
        assert LIMIT_S * 0.9 <= closed_s < LIMIT_S + PROMPTLY_S, f"closed after {closed_s:.1f}s"
    assert_still_serving(service)


def test_half_sent_body_is_answered_408_after_the_body_timeout(service: TaskqProcess) -> None:
    with connect(service) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"action":'
        )
        status, _, body = read_answer(sock)
        answered_s = time.monotonic() - started
    assert status == 408, body
    assert json.loads(body) == {"error": "request body not received in time"}
    assert LIMIT_S * 0.9 <= answered_s < LIMIT_S + PROMPTLY_S, f"answered after {answered_s:.1f}s"
    assert_still_serving(service)


def test_client_gone_mid_body_is_no_server_error(service: TaskqProcess) -> None:
    with connect(service) as sock:
        sock.sendall(
            b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"action":'
        )
    service.wait_log("client disconnected before sending the whole body", timeout_s=PROMPTLY_S)
    assert " ERROR " not in service.log(), service.describe()
    assert_still_serving(service)


@pytest.mark.parametrize("command", ["run", "api"])
def test_busy_port_exits_1_with_one_line_before_touching_the_database(
    procs: Processes, tmp_path: Path, command: str
) -> None:
    database = tmp_path / "tasks.db"
    port = free_port()
    with socket.create_server(("127.0.0.1", port)) as taken:
        assert taken.getsockname()[1] == port
        started = time.monotonic()
        done = procs.run(
            command, "--database", str(database), "--host", "127.0.0.1", "--port", str(port)
        )
        exited_s = time.monotonic() - started

    assert done.returncode == 1, done
    assert done.stderr.splitlines() == [
        f"taskq: cannot listen on 127.0.0.1:{port}: address already in use"
    ], done.stderr
    assert exited_s < 10, f"exited after {exited_s:.1f}s"
    assert not database.exists(), "the database was touched before the port was checked"
