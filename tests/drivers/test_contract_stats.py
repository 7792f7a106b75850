"""The driver contract for GET /queues and GET /stats: counts by queue and status, the age
of a queue's oldest ready task, throughput and wait/run time percentiles over windows.
Tasks are made to finish at chosen times by calling the worker verbs with chosen ``now``
values, so every figure is exact. Every driver must pass it."""

from __future__ import annotations

import pytest

from taskq.drivers.base import Driver
from taskq.queue import Queue
from taskq.stats import Percentiles, QueueList, Throughput, WindowStats
from taskq.task import AttemptError, NewTask, Status

NOW = 10_000.0
WINDOWS = (60, 300, 900)
LEASE_S = 3600.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


def counts(**given: int) -> dict[Status, int]:
    return {s: given.get(s.value, 0) for s in Status}


async def finish(
    driver: Driver, *, enqueued: float, started: float, ended: float, outcome: Status
) -> None:
    """One task of queue ``a`` run to ``outcome``: due at ``enqueued``, started and ended at
    the times given (``a`` has no other ready task)."""
    (task,) = await driver.enqueue([NewTask(action="x", queue="a")], now=enqueued)
    (claimed,) = await driver.claim("w", 1, queues=["a"], lease_s=LEASE_S, now=started, start=1)
    assert claimed.id == task.id
    if outcome is Status.COMPLETED:
        assert await driver.complete(task.id, "w", "{}", now=ended)
    else:
        assert await driver.fail(task.id, "w", AttemptError(1, "boom", ended), now=ended)


async def workload(driver: Driver) -> None:
    """Queue ``a``: finished tasks, one per window and one before them all, and a
    cancelled one; queue ``b``: a prefetched task, a running one, a ready one and one due
    later."""
    # wait 1, 10, 3, 1 s; run 1000, 190, 97, 49 s
    await finish(driver, enqueued=8_000, started=8_001, ended=9_000, outcome=Status.COMPLETED)
    await finish(driver, enqueued=9_000, started=9_010, ended=9_200, outcome=Status.COMPLETED)
    await finish(driver, enqueued=9_700, started=9_703, ended=9_800, outcome=Status.FAILED)
    await finish(driver, enqueued=9_900, started=9_901, ended=9_950, outcome=Status.COMPLETED)
    (cancelled,) = await driver.enqueue([NewTask(action="x", queue="a")], now=9_980)
    await driver.cancel(cancelled.id, now=9_990)

    await driver.enqueue([NewTask(action="x", queue="b")], now=9_300)
    claimed = await driver.claim("w", 1, queues=["b"], lease_s=LEASE_S, now=9_350)
    assert len(claimed.prefetched) == 1, "held by a worker, still queued: not ready"
    await driver.enqueue([NewTask(action="x", queue="b")], now=9_400)
    claimed = await driver.claim("w", 1, queues=["b"], lease_s=LEASE_S, now=9_450, start=1)
    assert len(claimed.started) == 1
    await driver.enqueue([NewTask(action="x", queue="b")], now=9_500)
    await driver.enqueue([NewTask(action="x", queue="b", run_at=10_500)], now=9_600)


async def test_windows_count_what_finished_in_them_with_exact_percentiles(
    driver: Driver,
) -> None:
    await workload(driver)
    found = await driver.window_stats(now=NOW, windows=WINDOWS, sample_size=100)
    assert found == [
        WindowStats(60, 1, 0, Percentiles(1.0, 1.0), Percentiles(49.0, 49.0), sampled=False),
        WindowStats(
            300, 1, 1, Percentiles(2.0, pytest.approx(2.9)), Percentiles(73.0, 94.6), False
        ),
        WindowStats(
            900,
            2,
            1,
            Percentiles(3.0, pytest.approx(9.3)),
            Percentiles(97.0, pytest.approx(180.7)),
            sampled=False,
        ),
    ]


async def test_percentiles_over_a_capped_sample_take_the_tasks_that_finished_last(
    driver: Driver,
) -> None:
    await workload(driver)
    found = await driver.window_stats(now=NOW, windows=WINDOWS, sample_size=2)
    longest = found[-1]
    assert (longest.completed, longest.failed) == (2, 1), "counts stay exact"
    assert longest.sampled
    assert longest.wait_s == found[1].wait_s == Percentiles(2.0, pytest.approx(2.9))
    assert longest.run_s == found[1].run_s
    assert not found[1].sampled, "two tasks fit a sample of two"


async def test_each_queue_has_its_counts_oldest_ready_age_and_throughput(
    driver: Driver,
) -> None:
    await workload(driver)
    found = await driver.queue_stats(now=NOW, windows=WINDOWS, limit=1000)
    assert found.generated_at == NOW
    assert not found.more
    a, b = found.queues
    assert a.name == "a"
    assert a.counts == counts(completed=3, failed=1, cancelled=1)
    assert a.oldest_ready_age_s is None
    assert a.throughput == [Throughput(60, 1, 0), Throughput(300, 1, 1), Throughput(900, 2, 1)]
    assert b.name == "b"
    assert b.counts == counts(queued=3, running=1)
    assert b.oldest_ready_age_s == 500.0, "the prefetched and the future tasks are not ready"
    assert b.throughput == [Throughput(w, 0, 0) for w in WINDOWS]


async def test_queues_are_sorted_by_name_and_capped(driver: Driver) -> None:
    await driver.enqueue([NewTask(action="x", queue=q) for q in ("c", "a", "b")], now=NOW)
    found = await driver.queue_stats(now=NOW + 2, windows=WINDOWS, limit=2)
    assert [q.name for q in found.queues] == ["a", "b"]
    assert found.more
    assert [q.oldest_ready_age_s for q in found.queues] == [2.0, 2.0]
    found = await driver.queue_stats(now=NOW, windows=WINDOWS, limit=3)
    assert [q.name for q in found.queues] == ["a", "b", "c"]
    assert not found.more


async def test_an_empty_store_gives_zeros_and_nulls(driver: Driver) -> None:
    assert await driver.queue_stats(now=NOW, windows=WINDOWS, limit=1000) == QueueList(
        NOW, [], more=False
    )
    assert await driver.window_stats(now=NOW, windows=WINDOWS, sample_size=100) == [
        WindowStats(w, 0, 0, Percentiles(), Percentiles(), sampled=False) for w in WINDOWS
    ]
