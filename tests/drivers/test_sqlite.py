"""SQLite-only behaviour: durability settings, group commit, cross-process wake-ups."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import taskq
from taskq.drivers.sqlite import SqliteDriver
from taskq.drivers.wakeup import wakeup_dir
from taskq.task import NewTask, Status


async def until(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def opened(path: str, **kw: object) -> SqliteDriver:
    driver = SqliteDriver(path, **kw)  # type: ignore[arg-type]
    await driver.open()
    return driver


async def test_wal_and_synchronous_full_by_default(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    try:
        assert driver._write_conn is not None
        conn = driver._write_conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        await driver.close()


async def test_concurrent_writes_share_commits(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    try:
        assert driver._write_conn is not None
        before = driver._write_conn.total_changes
        commits = 0

        def count_commits(sql: str) -> None:
            nonlocal commits
            commits += sql == "COMMIT"

        driver._write_conn.set_trace_callback(count_commits)
        await asyncio.gather(
            *(driver.publish([NewTask(action="x")], now=time.time()) for _ in range(100))
        )
        assert driver._write_conn.total_changes - before == 100
        assert commits < 100, f"{commits} commits for 100 concurrent publishes"
    finally:
        await driver.close()


async def test_committed_tasks_are_in_the_file_for_another_connection(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    try:
        (task,) = await driver.publish([NewTask(action="x")], now=time.time())
        other = sqlite3.connect(sqlite_url)
        assert other.execute("SELECT status FROM tasks WHERE id = ?", (task.id,)).fetchone() == (
            "queued",
        )
        other.close()
    finally:
        await driver.close()


async def test_a_publish_in_another_process_wakes_a_waiting_worker(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    consumer = await opened(sqlite_url)
    try:
        waiter = asyncio.create_task(consumer.wait_for_work(30))
        await until(lambda: consumer._listener is not None and consumer._listener.path is not None)
        code = (
            "import asyncio, time, sys\n"
            "from taskq.drivers.sqlite import SqliteDriver\n"
            "from taskq.task import NewTask\n"
            "async def main():\n"
            f"    d = SqliteDriver({sqlite_url!r}); await d.open()\n"
            "    await d.publish([NewTask(action='x')], now=time.time())\n"
            "    await asyncio.sleep(0.05); await d.close()\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        await asyncio.wait_for(waiter, 10)  # long before the 30 s poll
        assert await proc.wait() == 0
    finally:
        await consumer.close()


async def test_a_dead_listeners_socket_is_cleaned_up(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    directory = wakeup_dir(sqlite_url)
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "999999-dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(stale))
    s.close()  # bound then closed: the file stays, nobody listens
    driver = await opened(sqlite_url)
    try:
        await driver.publish([NewTask(action="x")], now=time.time())
        await until(lambda: not Path(stale).exists())
    finally:
        await driver.close()


async def test_an_op_that_raises_fails_alone_and_never_hangs(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    try:
        assert driver._writer is not None

        def broken(conn: sqlite3.Connection) -> None:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")

        good = driver.publish([NewTask(action="x")], now=time.time())
        results = await asyncio.wait_for(
            asyncio.gather(driver._writer.write(broken), good, return_exceptions=True), 5
        )
        assert isinstance(results[0], OverflowError)
        assert len(results[1]) == 1
        alone = await asyncio.wait_for(
            asyncio.gather(driver._writer.write(broken), return_exceptions=True), 5
        )
        assert isinstance(alone[0], OverflowError)
        assert (await driver.counts())[Status.QUEUED] == 1
    finally:
        await driver.close()
