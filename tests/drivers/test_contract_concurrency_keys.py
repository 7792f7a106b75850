"""The driver contract for concurrency keys (taskq/flow.py, migration 0010): at most the
queue's ``key_concurrency`` (1 by default) of its tasks holding one ``concurrency_key``
run at once, across every claimer; a key at its limit never holds back the others. Every
driver must pass it."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from tests.support.racing import racing_claims

from taskq.drivers.base import Driver
from taskq.errors import InvalidTask
from taskq.queue import Queue
from taskq.task import MAX_UNIQUE_KEY, Claimed, NewTask, Status

LEASE_S = 30.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


async def enqueue(driver: Driver, keys: list[str | None], queue: str = "q") -> list[str]:
    """One task per key given (None: no key), in that order."""
    tasks = [NewTask(action="a", queue=queue, concurrency_key=k) for k in keys]
    return [t.id for t in await driver.enqueue(tasks, now=time.time())]


async def claim(driver: Driver, n: int, *, start: int, worker: str = "w") -> Claimed:
    return await driver.claim(worker, n, queues=None, lease_s=LEASE_S, now=time.time(), start=start)


def keys_of(claimed: Claimed) -> Counter[str | None]:
    return Counter(t.concurrency_key for t in claimed.started)


async def test_one_task_of_a_key_runs_at_a_time_by_default(driver: Driver) -> None:
    await enqueue(driver, ["a", "a", "a", "b", None])
    first = await claim(driver, 10, start=10)
    assert keys_of(first) == Counter({"a": 1, "b": 1, None: 1})
    assert first.prefetched == []  # keyed tasks are never prefetched
    assert (await claim(driver, 10, start=10)).started == []
    done = next(t for t in first.started if t.concurrency_key == "a")
    assert await driver.complete(done.id, "w", "null", now=time.time())
    assert keys_of(await claim(driver, 10, start=10)) == Counter({"a": 1})


async def test_a_queue_sets_how_many_of_a_key_run_at_once(driver: Driver) -> None:
    await driver.update_queue("q", key_concurrency=3, now=time.time())
    assert (await driver.queue_settings())["q"].key_concurrency == 3
    await enqueue(driver, ["a"] * 5)
    assert keys_of(await claim(driver, 10, start=10)) == Counter({"a": 3})
    assert (await claim(driver, 10, start=10)).started == []


async def test_a_busy_key_does_not_hold_back_the_others(driver: Driver) -> None:
    """A key with a long backlog first in claim order: once it is at its limit, claims reach
    the other keys' tasks behind it (a claim looks at the first ready keyed tasks of the
    keys not at their limit: this one may see only the busy key)."""
    await enqueue(driver, ["busy"] * 50 + ["x", "y"])
    first = await claim(driver, 2, start=2)
    second = await claim(driver, 2, start=2)
    assert keys_of(first) + keys_of(second) == Counter({"busy": 1, "x": 1, "y": 1})


async def test_keyed_tasks_of_a_paused_queue_are_not_started(driver: Driver) -> None:
    await enqueue(driver, ["a", "b"], queue="held")
    await driver.update_queue("held", paused=True, now=time.time())
    assert (await claim(driver, 10, start=10)).started == []
    await driver.update_queue("held", paused=False, now=time.time())
    assert keys_of(await claim(driver, 10, start=10)) == Counter({"a": 1, "b": 1})


async def test_a_limited_queue_holds_its_keyed_tasks_to_its_concurrency(driver: Driver) -> None:
    await driver.update_queue("lim", concurrency=2, now=time.time())
    await enqueue(driver, ["a", "b", "c", None], queue="lim")
    started = (await claim(driver, 10, start=10)).started
    assert len(started) == 2
    assert len({t.concurrency_key for t in started}) == 2


async def test_concurrent_claims_never_run_two_of_one_key(database_url: str) -> None:
    async with Queue.connect(database_url) as setup:
        await enqueue(setup.driver, ["k"] * 20 + ["j"] * 20)
        claims = await racing_claims(database_url)
        started = Counter(t.concurrency_key for c in claims for t in c.started)
        assert started == Counter({"k": 1, "j": 1})
        running = await setup.driver.list_tasks(limit=100)
        assert sum(t.status is Status.RUNNING for t in running) == 2


@pytest.mark.parametrize("key", ["", "k" * (MAX_UNIQUE_KEY + 1), "nul\x00"])
async def test_a_concurrency_key_no_store_keeps_is_refused(queue: Queue, key: str) -> None:
    with pytest.raises(InvalidTask) as refused:
        await queue.enqueue_many([NewTask(action="x", concurrency_key=key)])
    assert refused.value.field == "concurrency_key"


async def test_a_bad_key_concurrency_is_refused(queue: Queue) -> None:
    with pytest.raises(InvalidTask) as refused:
        await queue.update_queue("q", key_concurrency=0)
    assert refused.value.field == "key_concurrency"
