"""The heartbeat and lease recovery alone, against a real database: what a beat renews,
what it hands on, and the dead local workers it notices."""

from __future__ import annotations

import os
import time

from taskq.drivers.base import Driver
from taskq.queue import Queue
from taskq.roster import WorkerInfo
from taskq.task import Status, Task
from taskq.worker.identity import LOCAL_KEY, new_worker_id
from taskq.worker.lease_rescue import LeaseRescue

# a previous incarnation of this process (same pid, another token): dead for sure
GHOST = f"{LOCAL_KEY}/{os.getpid()}/deadbeef/1"


async def running_under(driver: Driver, worker_id: str, task_id: str, *, lease_s: float) -> None:
    """``task_id`` claimed and started by ``worker_id``, its lease ending in ``lease_s``
    (already over when negative)."""
    now = time.time()
    assert [t.id for t in await driver.claim(worker_id, 1, queues=None, lease_s=30, now=now)] == [
        task_id
    ]
    assert await driver.start(task_id, worker_id, lease_s=lease_s, now=now) == 1


async def get(queue: Queue, task_id: str) -> Task:
    task = await queue.get(task_id)
    assert task is not None
    return task


async def test_a_beat_renews_the_held_leases_and_recovers_the_others(queue: Queue) -> None:
    """A row the worker let go of (or never learnt it claimed) is not kept alive by the
    heartbeat: it lapses and is recovered, while the held one keeps running."""
    me = new_worker_id()
    held, let_go = (await queue.enqueue("x")).id, (await queue.enqueue("x")).id
    await running_under(queue.driver, me, held, lease_s=-1)
    await running_under(queue.driver, me, let_go, lease_s=-1)
    await LeaseRescue(queue.driver, me, {held}, lease_s=30, max_attempts=3).beat()
    kept, recovered = await get(queue, held), await get(queue, let_go)
    assert (kept.status, kept.attempts) == (Status.RUNNING, 1)
    assert (recovered.status, recovered.attempts) == (Status.QUEUED, 1)
    assert recovered.error is not None
    assert "worker lost" in recovered.error


async def test_a_recovered_task_out_of_attempts_fails(queue: Queue) -> None:
    me = new_worker_id()
    task_id = (await queue.enqueue("x")).id
    await running_under(queue.driver, me, task_id, lease_s=-1)
    await LeaseRescue(queue.driver, me, set(), lease_s=30, max_attempts=1).beat()
    assert (await get(queue, task_id)).status is Status.FAILED


async def test_a_beat_leaves_a_valid_lease_of_another_worker_alone(queue: Queue) -> None:
    task_id = (await queue.enqueue("x")).id
    await running_under(queue.driver, GHOST, task_id, lease_s=3600)
    await LeaseRescue(queue.driver, new_worker_id(), set(), lease_s=30, max_attempts=3).beat()
    assert (await get(queue, task_id)).status is Status.RUNNING, "only lapsed leases"


async def test_a_dead_local_workers_tasks_are_rescued_before_their_lease_lapses(
    queue: Queue,
) -> None:
    ghosts, alive = (await queue.enqueue("x")).id, (await queue.enqueue("x")).id
    await running_under(queue.driver, GHOST, ghosts, lease_s=3600)
    await running_under(queue.driver, new_worker_id(), alive, lease_s=3600)
    rescue = LeaseRescue(queue.driver, new_worker_id(), set(), lease_s=30, max_attempts=3)
    assert await rescue.dead_local_workers() == [GHOST]
    await rescue.rescue_dead_local_workers()
    assert (await get(queue, ghosts)).status is Status.QUEUED
    assert (await get(queue, alive)).status is Status.RUNNING, "a live worker keeps its task"


async def test_recovery_at_start_takes_dead_local_workers_and_lapsed_leases(
    queue: Queue,
) -> None:
    ghosts, lapsed = (await queue.enqueue("x")).id, (await queue.enqueue("x")).id
    await running_under(queue.driver, GHOST, ghosts, lease_s=3600)
    await running_under(queue.driver, "some-other-host/1/abcd1234/1", lapsed, lease_s=-1)
    await LeaseRescue(
        queue.driver, new_worker_id(), set(), lease_s=30, max_attempts=3
    ).recover_at_start()
    assert (await get(queue, ghosts)).status is Status.QUEUED
    assert (await get(queue, lapsed)).status is Status.QUEUED
    assert await queue.driver.held_worker_ids() == []


def announcement(worker_id: str, *, at: float, lease_s: float = 30) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id,
        host="box",
        pid=1,
        queues=None,
        concurrency=1,
        lease_s=lease_s,
        schedules={},
        started_at=at,
        last_seen=at,
    )


async def test_a_beat_keeps_the_workers_row_fresh_and_forgets_stale_ones(queue: Queue) -> None:
    me, now = new_worker_id(), time.time()
    await queue.driver.announce(announcement(me, at=now - 20))
    await queue.driver.announce(announcement("stale", at=now - 100))
    rescue = LeaseRescue(
        queue.driver, me, set(), lease_s=30, max_attempts=3, announced=announcement(me, at=0)
    )
    await rescue.beat()
    (found,) = await queue.driver.workers(now=now - 100)
    assert found.id == me, "the stale row is deleted, not just hidden"
    assert found.last_seen >= now
    assert found.started_at == now - 20


async def test_a_beat_announces_again_a_worker_whose_row_was_forgotten(queue: Queue) -> None:
    me, now = new_worker_id(), time.time()
    rescue = LeaseRescue(
        queue.driver, me, set(), lease_s=30, max_attempts=3, announced=announcement(me, at=now)
    )
    await rescue.beat()
    (found,) = await queue.workers()
    assert (found.id, found.started_at) == (me, now)
    assert found.last_seen >= now
