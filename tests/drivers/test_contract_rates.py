"""The driver contract for rate limits (taskq/flow.py, migration 0009): at most ``limit``
of a queue's tasks start in any ``per_s`` seconds, across every claimer. Every driver
must pass it. Claims are given their time (``now``), so windows are exact."""

from __future__ import annotations

import time

import pytest
from tests.support.racing import racing_claims

from taskq.drivers.base import Driver
from taskq.errors import InvalidTask
from taskq.flow import KEEP, Rate
from taskq.queue import Queue
from taskq.task import Claimed, NewTask

LEASE_S = 30.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


async def enqueue(driver: Driver, queue: str, n: int, *, now: float) -> None:
    await driver.enqueue([NewTask(action="a", queue=queue) for _ in range(n)], now=now)


async def claim(driver: Driver, n: int, *, start: int, now: float, worker: str = "w") -> Claimed:
    return await driver.claim(worker, n, queues=None, lease_s=LEASE_S, now=now, start=start)


async def test_a_rate_is_stored_kept_and_cleared(driver: Driver) -> None:
    set_ = await driver.update_queue("mail", rate=Rate(5, 60.0), now=100.0)
    assert set_.rate == Rate(5, 60.0)
    assert set_.is_limited
    kept = await driver.update_queue("mail", concurrency=2, now=101.0)
    assert (kept.rate, kept.concurrency) == (Rate(5, 60.0), 2)
    assert (await driver.queue_settings())["mail"].rate == Rate(5, 60.0)
    cleared = await driver.update_queue("mail", rate=None, concurrency=KEEP, now=102.0)
    assert (cleared.rate, cleared.concurrency) == (None, 2)


async def test_a_rated_queue_starts_its_limit_per_window(driver: Driver) -> None:
    t0 = time.time()
    await enqueue(driver, "api", 20, now=t0)
    await driver.update_queue("api", rate=Rate(5, 1.0), now=t0)

    assert len((await claim(driver, 20, start=20, now=t0 + 0.1)).started) == 5
    assert len((await claim(driver, 20, start=20, now=t0 + 0.6)).started) == 0
    assert len((await claim(driver, 20, start=20, now=t0 + 1.09)).started) == 0
    # the first five's window is over: five more, no sooner
    assert len((await claim(driver, 20, start=20, now=t0 + 1.1)).started) == 5


async def test_a_rated_queue_is_never_prefetched_and_others_fill_the_claim(
    driver: Driver,
) -> None:
    t0 = time.time()
    await enqueue(driver, "api", 10, now=t0)
    await enqueue(driver, "free", 10, now=t0 + 0.001)
    await driver.update_queue("api", rate=Rate(3, 10.0), now=t0)
    claimed = await claim(driver, 12, start=4, now=t0 + 0.1)
    started_in = sorted(t.queue for t in claimed.started)
    assert started_in == ["api", "api", "api", "free"]
    assert {t.queue for t in claimed.prefetched} == {"free"}
    assert len(claimed.prefetched) == 8


async def test_a_claim_timed_before_a_later_start_still_counts_it(driver: Driver) -> None:
    """Starts are counted from ``now - per_s`` on, later ones too: a claim whose time was
    taken before another claim committed must not start beyond the limit."""
    t0 = time.time()
    await enqueue(driver, "api", 10, now=t0)
    await driver.update_queue("api", rate=Rate(2, 1.0), now=t0)
    assert len((await claim(driver, 5, start=5, now=t0 + 5.0)).started) == 2
    assert len((await claim(driver, 5, start=5, now=t0 + 4.5)).started) == 0


async def test_a_rate_and_a_concurrency_both_hold(driver: Driver) -> None:
    t0 = time.time()
    await enqueue(driver, "api", 10, now=t0)
    await driver.update_queue("api", rate=Rate(4, 60.0), concurrency=2, now=t0)
    first = await claim(driver, 10, start=10, now=t0 + 0.1)
    assert len(first.started) == 2  # the concurrency
    for task in first.started:
        assert await driver.complete(task.id, "w", "null", now=t0 + 0.2)
    assert len((await claim(driver, 10, start=10, now=t0 + 0.3)).started) == 2
    tasks = (await claim(driver, 10, start=10, now=t0 + 0.4)).started
    assert tasks == []  # both would fit the concurrency, the rate is spent


async def test_clearing_a_rate_frees_the_queue(driver: Driver) -> None:
    t0 = time.time()
    await enqueue(driver, "api", 6, now=t0)
    await driver.update_queue("api", rate=Rate(1, 3600.0), now=t0)
    assert len((await claim(driver, 6, start=6, now=t0 + 0.1)).started) == 1
    await driver.update_queue("api", rate=None, now=t0 + 0.2)
    assert len((await claim(driver, 6, start=6, now=t0 + 0.3)).started) == 5


async def test_concurrent_claims_never_start_more_than_the_rate(database_url: str) -> None:
    async with Queue.connect(database_url) as setup:
        t0 = time.time()
        await enqueue(setup.driver, "api", 40, now=t0)
        await setup.driver.update_queue("api", rate=Rate(7, 60.0), now=t0)
        claims = await racing_claims(database_url)
        assert sum(len(c.started) for c in claims) == 7


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("100/s", Rate(100, 1.0)),
        ("10/min", Rate(10, 60.0)),
        ("5/10s", Rate(5, 10.0)),
        (" 1000 / h ", Rate(1000, 3600.0)),
        ("20/d", Rate(20, 86_400.0)),
        ("3/0.5s", Rate(3, 0.5)),
    ],
)
def test_a_rate_is_written_as_limit_per_unit(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate
    assert Rate.parse(str(rate)) == rate


@pytest.mark.parametrize("text", ["", "100", "100/", "s", "0/s", "-1/s", "1/2d", "1/0s", "1/w"])
async def test_a_rate_no_store_keeps_is_refused(queue: Queue, text: str) -> None:
    with pytest.raises(InvalidTask) as refused:
        await queue.update_queue("q", rate=text)
    assert refused.value.field == "rate_limit"
