"""PostgreSQL-only behaviour: LISTEN/NOTIFY wake-ups, SKIP LOCKED claims, the pool, errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest

import taskq
from taskq.drivers.postgres import CHANNEL, PostgresDriver
from taskq.errors import InvalidTask, SchemaMismatch, StoreUnavailable
from taskq.task import AttemptError, NewTask, Status

LEASE_S = 30.0


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


async def until(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def elapsed_waiting(driver: PostgresDriver, timeout_s: float, trigger: Any) -> float:
    """Seconds ``wait_for_work(timeout_s)`` took while ``trigger()`` ran on the side."""
    t0 = time.monotonic()
    waiter = asyncio.create_task(driver.wait_for_work(timeout_s))
    await asyncio.sleep(0.05)  # the waiter is blocked before the trigger
    await trigger()
    await waiter
    return time.monotonic() - t0


# wake-ups


async def test_a_publish_from_another_connection_wakes_the_waiter(pg_url: str) -> None:
    async with opened(pg_url) as consumer, opened(pg_url) as producer:
        await consumer.wait_for_work(0.01)  # nothing pending
        took = await elapsed_waiting(
            consumer, 10, lambda: producer.publish([NewTask(action="x")], now=time.time())
        )
        assert took < 2


async def test_wait_for_work_times_out_without_work(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        t0 = time.monotonic()
        await driver.wait_for_work(0.3)
        assert time.monotonic() - t0 >= 0.29


async def test_a_future_task_does_not_wake_anyone(pg_url: str) -> None:
    async with opened(pg_url) as consumer, opened(pg_url) as producer:
        await consumer.wait_for_work(0.01)
        later = time.time() + 3600
        took = await elapsed_waiting(
            consumer,
            0.5,
            lambda: producer.publish([NewTask(action="x", run_at=later)], now=time.time()),
        )
        assert took >= 0.49


async def test_a_due_retry_and_a_release_wake_other_processes(pg_url: str) -> None:
    async with opened(pg_url) as consumer, opened(pg_url) as other:
        await other.publish([NewTask(action="x"), NewTask(action="y")], now=time.time())
        a, b = await other.claim("w1", 2, queues=None, lease_s=LEASE_S, now=time.time())
        await other.start(a.id, "w1", lease_s=LEASE_S, now=time.time())
        await consumer.wait_for_work(0.01)
        error = AttemptError(attempt=1, error="interrupted", at=time.time())
        took = await elapsed_waiting(
            consumer, 10, lambda: other.retry_later(a.id, "w1", error, run_at=time.time())
        )
        assert took < 2
        took = await elapsed_waiting(consumer, 10, lambda: other.release([b.id], "w1"))
        assert took < 2


async def test_recovering_a_lost_task_wakes_other_processes(pg_url: str) -> None:
    async with opened(pg_url) as consumer, opened(pg_url) as other:
        now = time.time()
        await other.publish([NewTask(action="x")], now=now)
        await other.claim("dead", 1, queues=None, lease_s=LEASE_S, now=now)
        await consumer.wait_for_work(0.01)
        assert await other.recover(now=now + 1, default_max_attempts=3) == 0
        took = await elapsed_waiting(
            consumer, 10, lambda: other.recover(now=now + 2 * LEASE_S, default_max_attempts=3)
        )
        assert took < 2


async def test_the_listener_reconnects_after_losing_its_connection(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="taskq.drivers.postgres")
    async with opened(pg_url) as consumer, opened(pg_url) as producer:
        assert terminate(pg_url, "taskq-listener") == 2
        await until(lambda: "is back" in caplog.text)
        assert "lost the LISTEN connection" in caplog.text
        await consumer.wait_for_work(0.01)  # the catch-up wake-up after reconnecting
        took = await elapsed_waiting(
            consumer, 10, lambda: producer.publish([NewTask(action="x")], now=time.time())
        )
        assert took < 2


async def test_close_stops_the_listener_and_every_connection(pg_url: str) -> None:
    driver = PostgresDriver(pg_url, min_size=2)
    await driver.open()
    listener = driver._listener
    assert listener is not None
    assert sessions(pg_url, "taskq-listener") == 1
    assert sessions(pg_url, "taskq") == 2
    await driver.close()
    assert listener.done()
    # the server notices a closed connection a moment later
    await until(lambda: sessions(pg_url, "taskq-listener") + sessions(pg_url, "taskq") == 0)


# claims


async def test_parallel_claimers_never_share_a_task(pg_url: str) -> None:
    async with opened(pg_url) as producer:
        await producer.publish([NewTask(action="x") for _ in range(500)], now=time.time())

    async def claim_all(worker: str) -> list[str]:
        got: list[str] = []
        async with opened(pg_url) as driver:
            while batch := await driver.claim(
                worker, 7, queues=None, lease_s=LEASE_S, now=time.time()
            ):
                got += [t.id for t in batch]
        return got

    claimed = await asyncio.gather(*(claim_all(f"w{i}") for i in range(4)))
    ids = [i for got in claimed for i in got]
    assert len(ids) == 500
    assert len(set(ids)) == 500
    assert all(claimed), "every claimer got some: they ran side by side"


async def test_a_bulk_publish_keeps_submission_order(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        tasks = await driver.publish(
            [NewTask(action="x", data={"i": i}) for i in range(1000)], now=time.time()
        )
        assert [t.seq for t in tasks] == list(range(tasks[0].seq, tasks[0].seq + 1000))
        claimed = await driver.claim("w1", 1000, queues=None, lease_s=LEASE_S, now=time.time())
        assert [t.payload["i"] for t in claimed] == list(range(1000))


# the pool


async def test_operations_reuse_pooled_connections(pg_url: str) -> None:
    async with opened(pg_url, min_size=1, max_size=4) as driver:
        assert driver._pool is not None
        for _ in range(50):
            (task,) = await driver.publish([NewTask(action="x")], now=time.time())
            await driver.get(task.id)
        await asyncio.gather(*(driver.counts() for _ in range(40)))
        stats = driver._pool.get_stats()
        assert stats["requests_num"] >= 140
        assert stats.get("connections_num", 0) <= 4
        assert sessions(pg_url, "taskq") <= 4


async def test_concurrent_publishes_share_a_transaction(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as listener:
            await listener.execute(f"LISTEN {CHANNEL}")
            await asyncio.gather(
                *(driver.publish([NewTask(action="x")], now=time.time()) for _ in range(100))
            )
            notes = [n async for n in listener.notifies(timeout=0.5)]
        assert (await driver.counts())[Status.QUEUED] == 100
        # one notification per transaction (identical ones within one are merged)
        assert 1 <= len(notes) <= 3


async def test_one_unstorable_publish_does_not_fail_its_neighbours(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        results = await asyncio.gather(
            *(
                driver.publish(
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


async def test_out_of_range_numbers_are_invalid_not_unavailable(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        with pytest.raises(InvalidTask) as caught:
            await driver.publish([NewTask(action="x", priority=2**40)], now=time.time())
        assert caught.value.field == "priority"
        tasks = await driver.list_tasks(before_seq=2**70)
        assert tasks == []


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


async def test_an_unmigrated_database_is_a_schema_mismatch(postgres_url: str) -> None:
    with pytest.raises(SchemaMismatch):
        await PostgresDriver(postgres_url).open()


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


async def test_ids_that_are_not_uuids_are_simply_unknown(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        error = AttemptError(attempt=1, error="x", at=time.time())
        assert await driver.get("not-a-uuid") is None
        assert await driver.start("nope", "w1", lease_s=1, now=time.time()) is None
        assert not await driver.complete("nope", "w1", "{}", now=time.time())
        assert not await driver.retry_later("nope", "w1", error, run_at=time.time())
        assert not await driver.fail("nope", "w1", error, now=time.time())
        assert await driver.release(["nope"], "w1") == 0


async def test_recover_records_the_lost_attempt_like_sqlite(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        now = time.time()
        await driver.publish([NewTask(action="x")], now=now)
        (task,) = await driver.claim("dead", 1, queues=None, lease_s=LEASE_S, now=now)
        await driver.start(task.id, "dead", lease_s=LEASE_S, now=now)
        assert await driver.recover(now=now + 100, default_max_attempts=3) == 1
        got = await driver.get(task.id)
        assert got is not None
        assert got.errors == [
            AttemptError(attempt=1, error=got.error or "", at=now + 100, traceback=None)
        ]
        assert (got.status, got.run_at, got.processed_at) == (Status.QUEUED, now + 100, None)


# lifecycle across connections


async def test_one_idempotency_key_stores_one_task_across_processes(pg_url: str) -> None:
    drivers = [PostgresDriver(pg_url, group_commit=False) for _ in range(4)]
    for d in drivers:
        await d.open()
    try:
        results = await asyncio.gather(
            *(
                d.publish([NewTask(action="x", idempotency_key="k1", fingerprint="f")], now=1.0)
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


async def test_a_key_repeated_within_one_group_commit(pg_url: str) -> None:
    async with opened(pg_url) as driver:
        first, again = await asyncio.gather(
            driver.publish([NewTask(action="x", idempotency_key="k")], now=time.time()),
            driver.publish([NewTask(action="x", idempotency_key="k")], now=time.time()),
        )
        assert first[0].id == again[0].id
        assert first[0].seq == again[0].seq != 0


async def test_cancel_from_another_process_reaches_the_running_worker(pg_url: str) -> None:
    async with opened(pg_url) as api, opened(pg_url) as worker:
        (task,) = await api.publish([NewTask(action="x")], now=time.time())
        await worker.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())
        await worker.start(task.id, "w1", lease_s=LEASE_S, now=time.time())
        cancelled = await api.cancel(task.id, now=time.time())
        assert cancelled is not None
        assert (cancelled.status, cancelled.cancel_requested) == (Status.RUNNING, True)
        assert await worker.cancel_requests("w1") == [task.id]
        error = AttemptError(attempt=1, error="cancelled", at=time.time())
        assert await worker.mark_cancelled(task.id, "w1", error, now=time.time())
        final = await api.get(task.id)
        assert final is not None
        assert final.status is Status.CANCELLED


async def test_requeue_wakes_other_processes(pg_url: str) -> None:
    async with opened(pg_url) as api, opened(pg_url) as consumer:
        (task,) = await api.publish([NewTask(action="x")], now=time.time())
        await api.cancel(task.id, now=time.time())
        await consumer.wait_for_work(0.01)
        took = await elapsed_waiting(consumer, 10, lambda: api.requeue(task.id, now=time.time()))
        assert took < 2
        assert (await api.requeue(task.id, now=time.time()))[0] is False, "queued already"
