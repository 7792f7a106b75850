"""PostgreSQL-only behaviour: the LISTEN connection, the pool, group commit, server errors.

Rules every driver keeps (claims, wake-ups, idempotency keys, ...) are in test_contract.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from tests.support.waiting import until
from tests.support.wakeups import waits_out, wakes

import taskq
from taskq.drivers.postgres import PostgresDriver
from taskq.errors import InvalidTask, StoreUnavailable
from taskq.task import AttemptError, NewTask, Status

CHANNEL = "taskq_tasks"  # what the driver's statements notify


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    taskq.migrate(postgres_url)
    return postgres_url


@asynccontextmanager
async def opened(url: str, **kw: Any) -> AsyncIterator[PostgresDriver]:
    driver = PostgresDriver(url, **kw)
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


def sessions(url: str, application_name: str) -> int:
    """Open server sessions to ``url``'s database with this application_name."""
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            (dbname, application_name),
        ).fetchone()
    assert row is not None
    return int(row[0])


def terminate(url: str, application_name: str) -> int:
    """Kill the server side of this database's sessions named ``application_name``."""
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s",
            (dbname, application_name),
        ).fetchall()
    return len(rows)


# the LISTEN connection


async def test_the_listener_reconnects_after_losing_its_connection(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="taskq.drivers")
    async with opened(pg_url) as consumer, opened(pg_url) as producer:
        await consumer.listen_for_work()  # a worker started: its process listens from now on
        await until(lambda: sessions(pg_url, "taskq-listener") == 1, 10, what="a listener")
        assert terminate(pg_url, "taskq-listener") == 1, "the producer listens too"
        await until(lambda: "is back" in caplog.text, 10, what="the listener to reconnect")
        assert "lost the LISTEN connection" in caplog.text
        await wakes(consumer, lambda: producer.enqueue([NewTask(action="x")], now=time.time()))


async def test_a_process_listens_from_its_workers_first_claim_and_close_stops_it(
    pg_url: str,
) -> None:
    driver = PostgresDriver(pg_url, min_size=2)
    await driver.open()
    async with opened(pg_url) as producer:
        # only enqueueing: listening would bring back a notification of its own per enqueue
        await producer.enqueue([NewTask(action="x")], now=time.time())
        assert producer._wakeups._task is None
    assert driver._wakeups._task is None
    assert sessions(pg_url, "taskq-listener") == 0
    # the producer's pool closed a moment ago: the server may count it a little longer
    await until(lambda: sessions(pg_url, "taskq") == 2, 10, what="the driver's pool alone")
    await driver.listen_for_work()  # a worker, before its first claim
    listener = driver._wakeups._task
    assert listener is not None
    assert sessions(pg_url, "taskq-listener") == 1, "listening when it returns"
    assert await waits_out(driver, 0.3), "woken with nothing written"
    await driver.close()
    assert listener.done()
    await driver.wait_for_work(0.01)  # a closed driver does not listen again
    assert driver._wakeups._task is None
    # the server notices a closed connection a moment later
    await until(
        lambda: sessions(pg_url, "taskq-listener") + sessions(pg_url, "taskq") == 0,
        10,
        what="the server to close every session",
    )


async def test_a_first_wait_without_listening_starts_it_and_is_woken_once_it_does(
    pg_url: str,
) -> None:
    async with opened(pg_url) as driver:
        # a driver used without a worker: what was sent before it listened is covered
        t0 = time.monotonic()
        await driver.wait_for_work(5)
        assert time.monotonic() - t0 < 4, "not woken once the listener was up"
        assert driver._wakeups._task is not None
        assert sessions(pg_url, "taskq-listener") == 1


# the pool


async def test_operations_reuse_pooled_connections(pg_url: str) -> None:
    async with opened(pg_url, min_size=1, max_size=4) as driver:
        assert driver._db.pool is not None
        for _ in range(50):
            (task,) = await driver.enqueue([NewTask(action="x")], now=time.time())
            await driver.get(task.id)
        await asyncio.gather(*(driver.counts() for _ in range(40)))
        stats = driver._db.pool.get_stats()
        assert stats["requests_num"] >= 140
        assert stats.get("connections_num", 0) <= 4
        assert sessions(pg_url, "taskq") <= 4


# errors


async def test_a_dead_server_is_store_unavailable(pg_url: str) -> None:
    driver = PostgresDriver("postgresql://postgres@127.0.0.1:1/taskq")
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        await driver.open()
    assert time.monotonic() - t0 < 5
    assert "\n" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    await driver.close()
    with pytest.raises(StoreUnavailable):
        await driver.ping()


async def test_killed_pool_connections_are_unavailable_then_replaced(pg_url: str) -> None:
    async with opened(pg_url, min_size=2) as driver:
        await driver.ping()
        assert terminate(pg_url, "taskq") == 2
        outcomes = await asyncio.gather(*(driver.ping() for _ in range(2)), return_exceptions=True)
        # each dead connection fails the one operation that finds it, as StoreUnavailable
        assert all(isinstance(o, StoreUnavailable) for o in outcomes)
        assert all("\n" not in str(o) for o in outcomes)
        for _ in range(5):
            await driver.ping()


async def test_checked_connections_survive_a_restart_unnoticed(pg_url: str) -> None:
    async with opened(pg_url, min_size=2, check_connections=True) as driver:
        await driver.ping()
        terminate(pg_url, "taskq")
        for _ in range(5):
            await driver.ping()


async def test_out_of_range_numbers_are_invalid_not_unavailable(pg_url: str) -> None:
    """Queue.enqueue validates (naming the field, alike on every store); a task given to the
    driver unvalidated is still refused as invalid, never as the store being down."""
    async with opened(pg_url) as driver:
        with pytest.raises(InvalidTask, match="PostgreSQL cannot store this task"):
            await driver.enqueue([NewTask(action="x", priority=2**40)], now=time.time())
        tasks = await driver.list_tasks(before_seq=2**70)
        assert tasks == []


# group commit


async def test_concurrent_enqueues_share_a_transaction(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as listener:
            await listener.execute(f"LISTEN {CHANNEL}")
            await asyncio.gather(
                *(driver.enqueue([NewTask(action="x")], now=time.time()) for _ in range(100))
            )
            notes = [n async for n in listener.notifies(timeout=0.5)]
        assert (await driver.counts())[Status.QUEUED] == 100
        # one notification per transaction (identical ones within one are merged)
        assert 1 <= len(notes) <= 3


async def test_one_unstorable_enqueue_does_not_fail_its_neighbours(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        results = await asyncio.gather(
            *(
                driver.enqueue(
                    [NewTask(action="x", data={"text": "a\x00b" if i == 5 else "ok"})],
                    now=time.time(),
                )
                for i in range(10)
            ),
            return_exceptions=True,
        )
        assert isinstance(results[5], InvalidTask)
        assert all(isinstance(r, list) for i, r in enumerate(results) if i != 5)
        assert (await driver.counts())[Status.QUEUED] == 9


async def test_one_idempotency_key_stores_one_task_without_group_commit(pg_url: str) -> None:
    """Every enqueue its own transaction: twenty of them race on one key (the contract
    suite's version races one merged transaction per driver)."""
    drivers = [PostgresDriver(pg_url, group_commit=False) for _ in range(4)]
    for d in drivers:
        await d.open()
    try:
        results = await asyncio.gather(
            *(
                d.enqueue([NewTask(action="x", idempotency_key="k1", fingerprint="f")], now=1.0)
                for d in drivers
                for _ in range(5)
            )
        )
        ids = {r[0].id for r in results}
        assert len(ids) == 1
        assert (await drivers[0].counts())[Status.QUEUED] == 1
        (stored,) = await drivers[0].list_tasks()
        assert stored.id in ids
        assert stored.idempotency_key == "k1"
    finally:
        for d in drivers:
            await d.close()


async def wal_syncs(url: str) -> int:
    """How many times the server has synced its WAL to disk, counting every session of
    taskq's that was open: each reports its figures as it ends, before it leaves
    pg_stat_activity."""
    await until(
        lambda: sessions(url, "taskq") + sessions(url, "taskq-listener") == 0,
        what="taskq's sessions ended",
    )
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("worker_commit", ["async", "sync"])
async def test_a_workers_bookkeeping_waits_for_no_wal_flush_unless_told(
    migrated_postgres_url: str, worker_commit: str
) -> None:
    """Accepted tasks always wait for the disk; a worker's claims, renewals, results and
    failures wait only with ``worker_commit="sync"``. Counted by the server itself: with
    ``synchronous_commit`` on, each commit that waits syncs the WAL once (one at a time,
    none shares another's sync)."""
    url = migrated_postgres_url
    with psycopg.connect(url, autocommit=True) as conn:
        fsync = conn.execute("SHOW fsync").fetchone()
        sync_level = conn.execute("SHOW synchronous_commit").fetchone()
    if fsync != ("on",) or sync_level == ("off",):
        pytest.skip("this server syncs no commit (fsync or synchronous_commit is off)")
    n = 30
    before = await wal_syncs(url)
    async with opened(url, worker_commit=worker_commit) as driver:
        for _ in range(n):
            await driver.enqueue([NewTask(action="x")], now=time.time())
    enqueued = await wal_syncs(url) - before
    before = await wal_syncs(url)
    async with opened(url, worker_commit=worker_commit) as driver:
        for i in range(n):
            now = time.time()
            claimed = await driver.claim("w", 1, queues=None, lease_s=30, now=now, start=1)
            (task,) = claimed.started
            assert await driver.renew_leases("w", [task.id], lease_s=30, now=now) == 1
            if i % 2:
                assert await driver.complete(task.id, "w", '"ok"', now=now)
            else:
                assert await driver.fail(task.id, "w", AttemptError(1, "no", now), now=now)
    bookkeeping = await wal_syncs(url) - before
    assert enqueued >= n  # each enqueue alone, each waited for the disk
    if worker_commit == "sync":
        assert bookkeeping >= 3 * n  # claim, renewal, result: each waited
    else:
        # the WAL writer's own flushes only (every 200 ms by default)
        assert bookkeeping < n / 3, bookkeeping
