"""The driver contract for flow control (taskq/flow.py): a queue's settings, and the claim
obeying them (paused queues, concurrency per queue, prefetch). Every driver must pass it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from tests.support.racing import racing_claims
from tests.support.wakeups import wakes

from taskq.drivers.base import Driver
from taskq.flow import QueueSettings
from taskq.queue import Queue
from taskq.task import Claimed, NewTask, Status

LEASE_S = 30.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[Driver]:
    """A second driver on the same store: another worker process, or another host."""
    async with Queue.connect(database_url) as q:
        yield q.driver


async def enqueue(driver: Driver, queue: str, n: int, **kw: object) -> list[str]:
    tasks = [NewTask(action="a", queue=queue, **kw) for _ in range(n)]  # type: ignore[arg-type]
    return [t.id for t in await driver.enqueue(tasks, now=time.time())]


async def claim(
    driver: Driver, n: int, *, start: int, worker: str = "w", queues: list[str] | None = None
) -> Claimed:
    return await driver.claim(
        worker, n, queues=queues, lease_s=LEASE_S, now=time.time(), start=start
    )


def queues_of(tasks: list[object]) -> list[str]:
    return sorted(t.queue for t in tasks)  # type: ignore[attr-defined]


async def test_a_queue_without_settings_has_the_defaults_and_updates_keep_the_rest(
    driver: Driver,
) -> None:
    assert await driver.queue_settings() == {}
    paused = await driver.update_queue("mail", paused=True, now=100.0)
    assert paused == QueueSettings("mail", paused=True, concurrency=None, updated_at=100.0)
    limited = await driver.update_queue("mail", concurrency=3, now=101.0)
    assert (limited.paused, limited.concurrency) == (True, 3)
    resumed = await driver.update_queue("mail", paused=False, now=102.0)
    assert (resumed.paused, resumed.concurrency) == (False, 3)
    unlimited = await driver.update_queue("mail", concurrency=None, now=103.0)
    assert (unlimited.paused, unlimited.concurrency) == (False, None)
    await driver.update_queue("a-queue", paused=True, now=104.0)
    settings = await driver.queue_settings()
    assert list(settings) == ["a-queue", "mail"]
    assert settings["mail"] == QueueSettings("mail", False, None, 103.0)


async def test_a_paused_queue_is_neither_started_nor_prefetched_and_resume_frees_it(
    driver: Driver,
) -> None:
    await driver.update_queue("paused", paused=True, now=time.time())
    held = await enqueue(driver, "paused", 3)
    free = await enqueue(driver, "free", 2)
    claimed = await claim(driver, 10, start=1)
    assert sorted(t.id for t in claimed) == sorted(free)
    assert await claim(driver, 10, start=0) == Claimed([], [])
    assert await claim(driver, 10, start=10, queues=["paused"]) == Claimed([], [])

    await driver.update_queue("paused", paused=False, now=time.time())
    resumed = await claim(driver, 10, start=1)
    assert sorted(t.id for t in resumed) == sorted(held)


async def test_resuming_a_queue_wakes_idle_workers(driver: Driver, other: Driver) -> None:
    await other.update_queue("q", paused=True, now=time.time())
    await wakes(driver, lambda: other.update_queue("q", paused=False, now=time.time()))


async def test_a_limited_queue_runs_at_most_its_concurrency_and_others_still_run(
    driver: Driver,
) -> None:
    await driver.update_queue("lim", concurrency=2, now=time.time())
    await enqueue(driver, "lim", 5)
    await enqueue(driver, "other", 3)
    first = await claim(driver, 10, start=10)
    assert queues_of(first.started) == ["lim", "lim", "other", "other", "other"]
    assert await claim(driver, 10, start=10) == Claimed([], [])

    # a finished task frees a slot; a failed attempt retried later too
    done = next(t for t in first.started if t.queue == "lim")
    assert await driver.complete(done.id, "w", "{}", now=time.time())
    second = await claim(driver, 10, start=10)
    assert queues_of(second.started) == ["lim"]
    assert await claim(driver, 10, start=10) == Claimed([], [])

    # raising the limit lets more run at once
    await driver.update_queue("lim", concurrency=4, now=time.time())
    third = await claim(driver, 10, start=10)
    assert queues_of(third.started) == ["lim", "lim"]


async def test_a_limited_queue_is_never_prefetched(driver: Driver) -> None:
    await driver.update_queue("lim", concurrency=5, now=time.time())
    limited = await enqueue(driver, "lim", 3, priority=10)
    other = await enqueue(driver, "other", 2)
    prefetch_only = await claim(driver, 10, start=0)
    assert prefetch_only.started == []
    assert sorted(t.id for t in prefetch_only.prefetched) == sorted(other)

    # one idle runner: one limited task, started at once, though the queue has room for 5
    one = await claim(driver, 10, start=1)
    assert [t.id for t in one.started] == [limited[0]]
    assert one.started[0].status is Status.RUNNING
    assert one.prefetched == []


async def test_a_claim_of_one_limited_queue_takes_its_room_only(driver: Driver) -> None:
    await driver.update_queue("lim", concurrency=2, now=time.time())
    await enqueue(driver, "lim", 4)
    await enqueue(driver, "other", 2)
    alone = await claim(driver, 10, start=10, queues=["lim"])
    assert queues_of(alone.started) == ["lim", "lim"]
    assert alone.prefetched == []
    both = await claim(driver, 10, start=10, queues=["lim", "other"], worker="w2")
    assert queues_of(both.started) == ["other", "other"]


async def test_the_limit_counts_the_tasks_every_worker_runs(driver: Driver, other: Driver) -> None:
    await driver.update_queue("lim", concurrency=2, now=time.time())
    await enqueue(driver, "lim", 4)
    assert len((await claim(driver, 10, start=1, worker="w1")).started) == 1
    assert len((await claim(other, 10, start=10, worker="w2")).started) == 1
    assert await claim(other, 10, start=10, worker="w3") == Claimed([], [])


async def test_concurrent_claims_never_run_more_than_the_limit(database_url: str) -> None:
    async with Queue.connect(database_url) as setup:
        await setup.driver.update_queue("lim", concurrency=3, now=time.time())
        await enqueue(setup.driver, "lim", 40)
        claims = await racing_claims(database_url)
        assert sum(len(c.started) for c in claims) == 3
        counts = await setup.driver.counts()
        assert counts[Status.RUNNING] == 3


async def test_a_task_prefetched_before_its_queue_was_paused_may_still_start(
    driver: Driver,
) -> None:
    (task_id,) = await enqueue(driver, "q", 1)
    (prefetched,) = (await claim(driver, 1, start=0)).prefetched
    await driver.update_queue("q", paused=True, now=time.time())
    assert await driver.start(prefetched.id, "w", lease_s=LEASE_S, now=time.time()) == 1
    assert prefetched.id == task_id
