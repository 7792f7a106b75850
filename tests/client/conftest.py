"""Fixtures of the client tests: a real `taskq run` (SQLite and PostgreSQL), and a TCP
proxy in front of it that can lose answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.system import conftest as system
from tests.system.procs import Processes, TaskqProcess
from tests.tcp_proxy import TcpProxy

import taskq

# The process-level tests' fixtures: `procs` (killed by pid at the end, logs in failure
# reports) and `database_url` (SQLite and PostgreSQL).
procs = system.procs
database_url = system.database_url
pytest_runtest_makereport = system.pytest_runtest_makereport


def start_service(procs: Processes, database_url: str, *extra: str) -> TaskqProcess:
    """`taskq run` on ``database_url``, ready; the demo actions take 50 ms."""
    extra = ("--poll-interval-s", "0.1", *extra)
    service = procs.start_run(database_url, delay_ms=50, lease_s=30, name="run", extra=extra)
    service.wait_ready()
    return service


@pytest.fixture
def service(procs: Processes, database_url: str) -> TaskqProcess:
    return start_service(procs, database_url)


@pytest.fixture
def client(service: TaskqProcess) -> Iterator[taskq.Client]:
    with taskq.Client(service.url, timeout=10) as c:
        yield c


@pytest.fixture
async def http_proxy(service: TaskqProcess) -> AsyncIterator[TcpProxy]:
    """A TCP proxy to ``service``: ``http_proxy.url(service.url)`` goes through it."""
    proxy = TcpProxy.to(service.url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
