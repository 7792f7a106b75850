"""SQLite-only behaviour: durability settings, group commit, cross-process wake-ups."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.support.waiting import until

import taskq
from taskq.drivers.sqlite import SqliteDriver
from taskq.drivers.wakeups import wakeup_dir
from taskq.errors import StoreUnavailable
from taskq.task import NewTask, Status


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
            *(driver.enqueue([NewTask(action="x")], now=time.time()) for _ in range(100))
        )
        assert driver._write_conn.total_changes - before == 100
        assert commits < 100, f"{commits} commits for 100 concurrent enqueues"
    finally:
        await driver.close()


async def test_committed_tasks_are_in_the_file_for_another_connection(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    try:
        (task,) = await driver.enqueue([NewTask(action="x")], now=time.time())
        other = sqlite3.connect(sqlite_url)
        assert other.execute("SELECT status FROM tasks WHERE id = ?", (task.id,)).fetchone() == (
            "queued",
        )
        other.close()
    finally:
        await driver.close()


async def test_an_enqueue_in_another_process_wakes_a_waiting_worker(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    consumer = await opened(sqlite_url)
    try:
        waiter = asyncio.create_task(consumer.wait_for_work(30))
        await until(
            lambda: (
                consumer._wakeups._listener is not None
                and consumer._wakeups._listener.path is not None
            ),
            5,
            what="the consumer to listen",
        )
        code = (
            "import asyncio, time, sys\n"
            "from taskq.drivers.sqlite import SqliteDriver\n"
            "from taskq.task import NewTask\n"
            "async def main():\n"
            f"    d = SqliteDriver({sqlite_url!r}); await d.open()\n"
            "    await d.enqueue([NewTask(action='x')], now=time.time())\n"
            "    await asyncio.sleep(0)  # one loop turn: the wake-up is sent\n"
            "    await d.close()\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        await asyncio.wait_for(waiter, 10)  # long before the 30 s poll
        assert await proc.wait() == 0
    finally:
        await consumer.close()


async def test_a_worker_listens_before_its_first_wait(sqlite_url: str) -> None:
    """What another process enqueues between a worker's first claim and its first wait
    wakes that wait: the worker's socket is bound before it claims."""
    taskq.migrate(sqlite_url)
    consumer = await opened(sqlite_url)
    producer = await opened(sqlite_url)
    try:
        assert consumer._wakeups._listener is not None
        assert consumer._wakeups._listener.path is None, "bound before anyone consumes"
        await consumer.listen_for_work()
        assert consumer._wakeups._listener.path is not None
        await producer.enqueue([NewTask(action="x")], now=time.time())
        await asyncio.sleep(0.05)  # the datagram arrives
        t0 = time.monotonic()
        await consumer.wait_for_work(30)
        assert time.monotonic() - t0 < 5, "the enqueue before the wait did not wake it"
    finally:
        await producer.close()
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
        await driver.enqueue([NewTask(action="x")], now=time.time())
        await until(lambda: not Path(stale).exists(), 5, what="the stale socket to be removed")
    finally:
        await driver.close()


async def test_an_op_that_raises_fails_alone_and_never_hangs(sqlite_url: str) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    try:
        assert driver._writer is not None

        def broken(conn: sqlite3.Connection) -> None:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")

        good = driver.enqueue([NewTask(action="x")], now=time.time())
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


class CommitLevels:
    """The synchronous level each COMMIT of a connection ran at, read from its SQL trace."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.level = {1: "NORMAL", 2: "FULL"}[conn.execute("PRAGMA synchronous").fetchone()[0]]
        self.commits: list[str] = []
        conn.set_trace_callback(self._trace)

    def _trace(self, sql: str) -> None:
        if sql.startswith("PRAGMA synchronous = "):
            self.level = sql.rsplit(" ", 1)[1]
        elif sql == "COMMIT":
            self.commits.append(self.level)


class WalSyncs:
    """Counts fsyncs of one file (calls through to the real os.fsync)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
        self.path = os.path.realpath(path)
        self.count = 0
        real = os.fsync

        def fsync(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}") == self.path:
                self.count += 1
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)


async def _bookkeeping(driver: SqliteDriver) -> None:
    """A worker's writes for one task: claim-and-start, then complete."""
    (task,) = await driver.claim("w", 1, queues=None, lease_s=30, now=time.time(), start=1)
    assert await driver.complete(task.id, "w", '"done"', now=time.time())


async def test_promises_are_fsynced_at_commit_bookkeeping_soon_after(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url, worker_sync_ms=300)
    syncs = WalSyncs(monkeypatch, f"{sqlite_url}-wal")
    try:
        assert driver._write_conn is not None
        levels = CommitLevels(driver._write_conn)
        (task,) = await driver.enqueue([NewTask(action="x")], now=time.time())
        await _bookkeeping(driver)
        assert levels.commits == ["FULL", "NORMAL", "NORMAL"]
        assert syncs.count == 0  # not yet: within 300 ms
        await until(lambda: syncs.count == 1, 3, what="the deferred fsync of the WAL")
        await driver.enqueue([NewTask(action="x")], now=time.time())
        await driver.cancel(task.id, now=time.time())
        assert levels.commits[3:] == ["FULL", "FULL"]
    finally:
        await driver.close()


async def test_close_fsyncs_bookkeeping_not_yet_synced(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url, worker_sync_ms=60_000)
    syncs = WalSyncs(monkeypatch, f"{sqlite_url}-wal")
    await driver.enqueue([NewTask(action="x")], now=time.time())
    await _bookkeeping(driver)
    assert syncs.count == 0
    await driver.close()
    assert syncs.count == 1


@pytest.mark.parametrize(
    ("options", "level"),
    [({"worker_sync_ms": 0}, "FULL"), ({"synchronous": "NORMAL"}, "NORMAL")],
    ids=["worker_sync_ms=0", "NORMAL"],
)
async def test_one_level_for_every_commit(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, options: dict[str, object], level: str
) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url, **options)
    syncs = WalSyncs(monkeypatch, f"{sqlite_url}-wal")
    try:
        assert driver._write_conn is not None
        levels = CommitLevels(driver._write_conn)
        await driver.enqueue([NewTask(action="x")], now=time.time())
        await _bookkeeping(driver)
        assert levels.commits == [level] * 3
        await asyncio.sleep(0.1)
        assert syncs.count == 0  # no deferred fsync: there is nothing deferred
    finally:
        await driver.close()


async def test_a_write_waiting_for_another_process_lock_leaves_the_loop_free(
    sqlite_url: str,
) -> None:
    """A lone write tries the lock on the event loop's thread, and when another
    connection holds it, waits on the writer thread: the loop keeps serving meanwhile."""
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    other = sqlite3.connect(sqlite_url, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        enqueue = asyncio.create_task(driver.enqueue([NewTask(action="x")], now=time.time()))
        # a loop blocked on the lock would run these ticks only when it gives up (10 s)
        tick_s = []
        for _ in range(20):
            t0 = time.monotonic()
            await asyncio.sleep(0.01)
            tick_s.append(time.monotonic() - t0)
        assert max(tick_s) < 1, f"the loop stalled while the write waited: {max(tick_s):.2f}s"
        assert not enqueue.done(), "the write went ahead under another connection's lock"
        other.execute("COMMIT")
        (task,) = await asyncio.wait_for(enqueue, 5)
        assert (await driver.counts())[Status.QUEUED] == 1
        assert task.status is Status.QUEUED
    finally:
        other.close()
        await driver.close()


async def test_a_lone_write_runs_on_the_loop_thread_and_concurrent_ones_group(
    sqlite_url: str,
) -> None:
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url)
    try:
        assert driver._writer is not None
        threads: list[str] = []

        def which_thread(conn: sqlite3.Connection) -> None:
            threads.append(threading.current_thread().name)

        await driver._writer.write(which_thread)
        await asyncio.gather(*(driver._writer.write(which_thread) for _ in range(3)))
        assert threads[0] == threading.current_thread().name
        assert all(name.startswith("taskq-sqlite-writer") for name in threads[1:])
    finally:
        await driver.close()


async def test_a_failed_transaction_leaves_the_configured_level(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a transaction that failed (here: the lock never came), the next commit runs at
    the level the driver was opened with, not at another."""
    from taskq.drivers.sqlite import connection as sqlite_driver

    monkeypatch.setattr(sqlite_driver, "LOCK_TIMEOUT_S", 0.05)
    taskq.migrate(sqlite_url)
    driver = await opened(sqlite_url, synchronous="NORMAL")
    other = sqlite3.connect(sqlite_url, isolation_level=None)
    try:
        assert driver._write_conn is not None
        levels = CommitLevels(driver._write_conn)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            await driver.enqueue([NewTask(action="x")], now=time.time())
        other.execute("COMMIT")
        await driver.enqueue([NewTask(action="x")], now=time.time())
        assert levels.commits == ["NORMAL"]
    finally:
        other.close()
        await driver.close()
