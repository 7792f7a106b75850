"""Readiness that tells the truth, fast: a SQLite store that cannot take writes is not
ready, and a PostgreSQL store that cannot be reached says so in well under a second."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.tcp_proxy import TcpProxy

import taskq
from taskq.drivers.postgres import PostgresDriver
from taskq.drivers.sqlite import MIN_FREE_BYTES, SqliteDriver
from taskq.errors import StoreUnavailable
from taskq.task import NewTask

# a store known to be down must answer within this (a probe's 1 s, and some slack)
FAIL_FAST_S = 1.5


@contextlib.asynccontextmanager
async def opened_sqlite(
    path: str, *, min_free_bytes: int = MIN_FREE_BYTES
) -> AsyncIterator[SqliteDriver]:
    taskq.migrate(path)
    driver = SqliteDriver(path, min_free_bytes=min_free_bytes)
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


async def enqueue_one(driver: SqliteDriver | PostgresDriver) -> None:
    await driver.enqueue([NewTask(action="uppercase", data={"text": "x" * 200})], now=time.time())


async def timed(operation: Callable[[], Awaitable[None]]) -> float:
    """Seconds until ``operation`` failed with StoreUnavailable."""
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await operation()
    return time.monotonic() - t0


async def until_succeeds(operation: Callable[[], Awaitable[None]], timeout_s: float) -> float:
    """Seconds until ``operation`` succeeded (it is retried while the store is unavailable)."""
    t0 = time.monotonic()
    while True:
        try:
            await operation()
            return time.monotonic() - t0
        except StoreUnavailable:
            assert time.monotonic() - t0 < timeout_s, "the store did not come back in time"
            await asyncio.sleep(0.05)


async def until_waiting_for_lock(conn: psycopg.AsyncConnection[Any], timeout_s: float = 10) -> None:
    """Wait until another session waits for the lock ``conn`` holds on the tasks."""
    deadline = time.monotonic() + timeout_s
    while True:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'taskq_tasks'::regclass"
        )
        row = await cur.fetchone()
        if row is not None and row[0] > 0:
            return
        assert time.monotonic() < deadline, "nobody waits for the lock"
        await asyncio.sleep(0.02)


# SQLite: ready means writable


async def test_sqlite_ping_fails_when_the_disk_has_less_than_min_free_bytes(
    sqlite_url: str,
) -> None:
    above_free = shutil.disk_usage(Path(sqlite_url).parent.parent).total + 1
    async with opened_sqlite(sqlite_url, min_free_bytes=above_free) as driver:
        with pytest.raises(StoreUnavailable, match=f"disk full: .*file system of {sqlite_url}"):
            await driver.ping()


async def test_sqlite_ping_passes_with_min_free_bytes_zero(sqlite_url: str) -> None:
    async with opened_sqlite(sqlite_url, min_free_bytes=0) as driver:
        await driver.ping()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a real file system that a test can fill."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(path: Path) -> None:
    """Write ``path`` until its file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        if exc.errno != 28:  # ENOSPC
            raise
    finally:
        os.close(fd)


async def test_sqlite_full_disk_is_not_ready_until_space_is_freed(tiny_disk: Path) -> None:
    async with opened_sqlite(str(tiny_disk / "tasks.db")) as driver:
        await enqueue_one(driver)
        await driver.ping()
        filler = tiny_disk / "filler"
        fill(filler)

        with pytest.raises(StoreUnavailable, match="full"):
            await enqueue_one(driver)
        with pytest.raises(StoreUnavailable, match="disk full"):
            await driver.ping()
        # without the free-space margin, the refused write alone keeps it not ready
        driver.min_free_bytes = 0
        with pytest.raises(StoreUnavailable, match="refused the last write"):
            await driver.ping()

        filler.unlink()
        await driver.ping()
        driver.min_free_bytes = MIN_FREE_BYTES
        await driver.ping()
        await enqueue_one(driver)
        await driver.ping()


# PostgreSQL: fail fast while the server is unreachable


@contextlib.asynccontextmanager
async def opened_postgres(
    url: str, *, max_size: int = 10, acquire_timeout_s: float = 5.0
) -> AsyncIterator[PostgresDriver]:
    driver = PostgresDriver(url, max_size=max_size, acquire_timeout_s=acquire_timeout_s)
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


async def test_postgres_unreachable_fails_fast_then_recovers(
    proxy: TcpProxy, postgres_url: str
) -> None:
    async with opened_postgres(proxy.url(postgres_url)) as driver:
        await enqueue_one(driver)
        await proxy.stop()

        first_s = await timed(driver.ping)  # the pooled connection breaks under it
        ping_s = await timed(driver.ping)
        enqueue_s = await timed(lambda: enqueue_one(driver))
        print(f"down: first failure {first_s:.2f}s, ping {ping_s:.2f}s, enqueue {enqueue_s:.2f}s")
        assert ping_s < FAIL_FAST_S
        assert enqueue_s < FAIL_FAST_S

        await proxy.start()
        back_s = await until_succeeds(lambda: enqueue_one(driver), timeout_s=10)
        await driver.ping()
        print(f"back: enqueue succeeded {back_s:.2f}s after the restart")


async def test_postgres_busy_pool_still_waits_the_full_acquire_timeout(
    proxy: TcpProxy, postgres_url: str
) -> None:
    """Only an unreachable server shortens the wait, and only until it answers again: a
    pool whose connections are all busy (here, the one connection waits for a lock) keeps
    waiting ``acquire_timeout_s`` after an outage, and its timing out is not taken for one."""
    acquire_timeout_s = 2.0
    async with opened_postgres(
        proxy.url(postgres_url), max_size=1, acquire_timeout_s=acquire_timeout_s
    ) as driver:
        await proxy.stop()
        await timed(driver.ping)
        assert await timed(driver.ping) < FAIL_FAST_S
        await proxy.start()
        await until_succeeds(driver.ping, timeout_s=10)

        locker = await psycopg.AsyncConnection.connect(postgres_url)
        try:
            await locker.execute("LOCK TABLE taskq_tasks IN ACCESS EXCLUSIVE MODE")
            holder = asyncio.create_task(driver.ping())  # holds the only connection
            await until_waiting_for_lock(locker)
            first_wait_s = await timed(driver.ping)  # a busy pool: the full timeout
            second_wait_s = await timed(driver.ping)  # and no fast failing after it
            print(f"busy pool: waited {first_wait_s:.2f}s, then {second_wait_s:.2f}s")
            assert first_wait_s > acquire_timeout_s - 0.1
            assert second_wait_s > acquire_timeout_s - 0.1
        finally:
            await locker.close()  # releases the lock
        await holder
