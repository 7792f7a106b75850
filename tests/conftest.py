"""Shared fixtures: real databases only.

``database_url`` is parametrised over every driver: a fresh SQLite file, and a fresh
PostgreSQL database on the machine's server. A server that does not answer skips its
tests with the reason, or fails them when TASKQ_REQUIRE_SERVICES=1 (as CI sets).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.support.heard import Heard
from tests.tcp_proxy import TcpProxy

import taskq
from taskq.queue import Queue

POSTGRES_ADMIN_URL = os.environ.get(
    "TASKQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def services_required() -> bool:
    return os.environ.get("TASKQ_REQUIRE_SERVICES") == "1"


def need_service(name: str, host: str, port: int) -> None:
    """Skip (or, when services are required, fail) unless host:port accepts connections."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as exc:
        reason = f"{name} is not answering on {host}:{port} ({exc})"
    if services_required():
        pytest.fail(f"TASKQ_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return str(tmp_path / "data" / "tasks.db")


def _create_database(prefix: str) -> str:
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def _drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, unmigrated database on the local PostgreSQL, dropped afterwards."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    url = _create_database("taskq_test")
    try:
        yield url
    finally:
        _drop_database(url)


@pytest.fixture(scope="session")
def _migrated_postgres() -> Iterator[str]:
    """One migrated database for the session; tests empty it instead of creating their own
    (creating and migrating a database costs over a second, emptying one milliseconds)."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    url = _create_database("taskq_test_shared")
    taskq.migrate(url)
    try:
        yield url
    finally:
        _drop_database(url)


@pytest.fixture
def migrated_postgres_url(_migrated_postgres: str) -> str:
    import psycopg

    with psycopg.connect(_migrated_postgres, autocommit=True) as conn:
        # every table of taskq's, so that one a migration adds is never left to leak
        tables = conn.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename LIKE 'taskq\\_%'"
        ).fetchone()
        assert tables is not None
        conn.execute(f"TRUNCATE {tables[0]} RESTART IDENTITY")
    return _migrated_postgres


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str) -> str:
    taskq.migrate(sqlite_url)
    return sqlite_url


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    """A migrated PostgreSQL database reached through a TCP proxy the test can stop (the
    server "down") and start again."""
    taskq.migrate(postgres_url)
    proxy = TcpProxy.to(postgres_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
def migrated_memory_url() -> Iterator[str]:
    """A store of the in-memory driver of its own (no schema to migrate)."""
    from taskq.drivers import memory

    url = f"memory://test-{uuid.uuid4().hex[:12]}"
    try:
        yield url
    finally:
        memory.forget(url)


# Stores that keep tasks in a database, which another process can open too.
DATABASES = ["sqlite", "postgres"]
# Every driver: the contract, API and worker suites run on each.
DRIVERS = [*DATABASES, "memory"]


@pytest.fixture(params=DRIVERS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty store of each driver in turn."""
    url: str = request.getfixturevalue(f"migrated_{request.param}_url")
    return url


@pytest.fixture(params=DATABASES)
def fresh_database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each database driver in turn, not migrated."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def queue(database_url: str) -> AsyncIterator[Queue]:
    async with Queue.connect(database_url) as q:
        yield q


@pytest.fixture
async def heard(queue: Queue) -> AsyncIterator[Heard]:
    """A subscriber to ``queue``'s events, keeping what it is told."""
    heard = Heard()
    unsubscribe = await queue.events.subscribe(heard)
    try:
        yield heard
    finally:
        await unsubscribe()
