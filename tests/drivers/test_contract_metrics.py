"""The driver contract for GET /metrics: what finished in a window, aggregated (counts,
attempts, lease recoveries, wait and run histograms), and what was submitted after a seq
cursor. Tasks run at chosen ``now`` values through the worker verbs, so every figure is
exact. Every driver must pass it."""

from __future__ import annotations

import pytest

from taskq.drivers.base import Driver
from taskq.metrics import BUCKETS_S, Finished
from taskq.queue import Queue
from taskq.task import AttemptError, NewTask, Status

LEASE_S = 3600.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


def le(*values: float) -> tuple[int, ...]:
    """Cumulative bucket counts of ``values`` over BUCKETS_S."""
    return tuple(sum(v <= b for v in values) for b in BUCKETS_S)


async def start(driver: Driver, queue: str, *, now: float, lease_s: float = LEASE_S) -> str:
    (claimed,) = await driver.claim("w", 1, queues=[queue], lease_s=lease_s, now=now, start=1)
    return claimed.id


async def submit(driver: Driver, queue: str, action: str, *, now: float) -> str:
    (task,) = await driver.enqueue([NewTask(action=action, queue=queue)], now=now)
    return task.id


async def workload(driver: Driver) -> None:
    """Tasks that end one after another (each queue holds one ready task at a time)."""
    # at the cursor (1000): not in the window
    await submit(driver, "a", "x", now=900)
    assert await driver.complete(await start(driver, "a", now=950), "w", "{}", now=1000)
    # a/x: waited 1, ran 2
    await submit(driver, "a", "x", now=1000)
    assert await driver.complete(await start(driver, "a", now=1001), "w", "{}", now=1003)
    # a/x: failed once, retried from 1010, then waited 2 and ran 30
    await submit(driver, "a", "x", now=1000)
    task_id = await start(driver, "a", now=1002)
    assert await driver.retry_later(task_id, "w", AttemptError(1, "boom", 1004), run_at=1010)
    assert await start(driver, "a", now=1012) == task_id
    assert await driver.complete(task_id, "w", "{}", now=1042)
    # a/y: failed at its only attempt, having waited 0.25 and run 0.75
    await submit(driver, "a", "y", now=1000)
    task_id = await start(driver, "a", now=1000.25)
    assert await driver.fail(task_id, "w", AttemptError(1, "boom", 1001), now=1001)
    # b/x: its worker lost (lease lapsed at 1005), recovered at 1010, then waited 10, ran 5
    await submit(driver, "b", "x", now=1000)
    task_id = await start(driver, "b", now=1000, lease_s=5)
    assert await driver.recover(now=1010, default_max_attempts=3) == 1
    assert await start(driver, "b", now=1020) == task_id
    assert await driver.complete(task_id, "w", "{}", now=1025)
    # b/x: cancelled while queued (no attempt)
    await driver.cancel(await submit(driver, "b", "x", now=1000), now=1030)
    # a/x: ended exactly at the window's end (in it): waited 90, ran 10
    await submit(driver, "a", "x", now=1000)
    assert await driver.complete(await start(driver, "a", now=1090), "w", "{}", now=1100)
    # after the window's end
    await submit(driver, "a", "x", now=1000)
    assert await driver.complete(await start(driver, "a", now=1100), "w", "{}", now=1100.5)
    # still running: not finished
    await submit(driver, "a", "x", now=1000)
    await start(driver, "a", now=1050)


async def test_finished_between_aggregates_the_window_exactly(driver: Driver) -> None:
    await workload(driver)
    found = await driver.finished_between(after=1000, until=1100)
    by_key = {(f.queue, f.action, f.status): f for f in found}
    assert by_key == {
        ("a", "x", Status.COMPLETED): Finished(
            "a", "x", Status.COMPLETED, tasks=3, attempts=4, started=3, recovered=0,
            timed=3, wait_sum_s=93.0, run_sum_s=42.0, wait_le=le(1, 2, 90),
            run_le=le(2, 30, 10),
        ),
        ("a", "y", Status.FAILED): Finished(
            "a", "y", Status.FAILED, tasks=1, attempts=1, started=1, recovered=0, timed=1,
            wait_sum_s=0.25, run_sum_s=0.75, wait_le=le(0.25), run_le=le(0.75),
        ),
        ("b", "x", Status.COMPLETED): Finished(
            "b", "x", Status.COMPLETED, tasks=1, attempts=2, started=1, recovered=1,
            timed=1, wait_sum_s=10.0, run_sum_s=5.0, wait_le=le(10), run_le=le(5),
        ),
        ("b", "x", Status.CANCELLED): Finished(
            "b", "x", Status.CANCELLED, tasks=1, attempts=0, started=0, recovered=0,
            timed=0, wait_sum_s=0.0, run_sum_s=0.0, wait_le=le(), run_le=le(),
        ),
    }  # fmt: skip
    # the bounds themselves: at most 1 s, 2.5 s, 60 s, 300 s
    a_x = by_key["a", "x", Status.COMPLETED]
    i = BUCKETS_S.index
    assert [a_x.wait_le[i(b)] for b in (1.0, 2.5, 60.0, 300.0)] == [1, 2, 2, 3]
    assert [a_x.run_le[i(b)] for b in (1.0, 2.5, 10.0, 30.0)] == [0, 1, 2, 3]


async def test_finished_between_reads_nothing_outside_its_window(driver: Driver) -> None:
    await workload(driver)
    assert await driver.finished_between(after=1100.5, until=2000) == []
    (after_end,) = await driver.finished_between(after=1100, until=1100.5)
    assert (after_end.tasks, after_end.queue, after_end.status) == (1, "a", Status.COMPLETED)
    (at_cursor,) = await driver.finished_between(after=999, until=1000)
    assert at_cursor.tasks == 1


async def test_submitted_after_counts_by_pair_and_stops_at_the_first_row_too_new(
    driver: Driver,
) -> None:
    s1 = (await driver.enqueue([NewTask(action="x", queue="a")], now=100))[0].seq
    s2 = (await driver.enqueue([NewTask(action="y", queue="a")], now=300))[0].seq
    s3 = (await driver.enqueue([NewTask(action="x", queue="b")], now=200))[0].seq
    s4 = (await driver.enqueue([NewTask(action="x", queue="a")], now=210))[0].seq
    assert s1 < s2 < s3 < s4

    first = await driver.submitted_after(after_seq=s1 - 1, until=250)
    # s2 was created after 250: it and every later row wait for the next read
    assert (first.counts, first.last_seq) == ([("a", "x", 1)], s1)
    rest = await driver.submitted_after(after_seq=first.last_seq, until=300)
    assert sorted(rest.counts) == [("a", "x", 1), ("a", "y", 1), ("b", "x", 1)]
    assert rest.last_seq == s4
    none = await driver.submitted_after(after_seq=s4, until=1000)
    assert (none.counts, none.last_seq) == ([], s4)


async def test_seq_before_is_the_newest_task_created_by_then(driver: Driver) -> None:
    assert await driver.seq_before(1_000) == 0
    s1 = (await driver.enqueue([NewTask(action="x")], now=100))[0].seq
    s2 = (await driver.enqueue([NewTask(action="x")], now=200))[0].seq
    await driver.enqueue([NewTask(action="x")], now=300)
    assert await driver.seq_before(50) == 0
    assert await driver.seq_before(100) == s1
    assert await driver.seq_before(250) == s2
