"""Pruning alone, against a real database: only finished tasks older than the retention go."""

from __future__ import annotations

import asyncio
import time

from taskq.queue import Queue
from taskq.task import AttemptError, Status
from taskq.worker.identity import new_worker_id
from taskq.worker.retention import Retention

AGO_S = 100.0  # finished this long ago
RETENTION_S = 50.0


async def finished(queue: Queue, status: Status, *, ago_s: float) -> str:
    """A task finished (``status``) ``ago_s`` seconds ago."""
    task_id = (await queue.enqueue("x")).id
    at = time.time() - ago_s
    if status is Status.CANCELLED:
        cancelled = await queue.driver.cancel(task_id, now=at)
        assert cancelled is not None
        assert cancelled.status is Status.CANCELLED
        return task_id
    me = new_worker_id()
    claimed = await queue.driver.claim(me, 1, queues=None, lease_s=30, now=time.time(), start=1)
    assert [t.id for t in claimed] == [task_id]
    if status is Status.COMPLETED:
        assert await queue.driver.complete(task_id, me, '"ok"', now=at)
    else:
        assert await queue.driver.fail(task_id, me, AttemptError(1, "x", at), now=at)
    return task_id


async def remaining(queue: Queue) -> set[str]:
    return {t.id for t in await queue.list_tasks(limit=1000)}


async def test_prune_deletes_only_finished_tasks_older_than_the_retention(queue: Queue) -> None:
    old = {
        await finished(queue, Status.COMPLETED, ago_s=AGO_S),
        await finished(queue, Status.FAILED, ago_s=AGO_S),
        await finished(queue, Status.CANCELLED, ago_s=AGO_S),
    }
    recent = await finished(queue, Status.COMPLETED, ago_s=RETENTION_S / 2)
    queued = (await queue.enqueue("x", run_at=time.time() - AGO_S)).id
    running = (await queue.enqueue("x", run_at=time.time() - AGO_S)).id
    claimed = await queue.driver.claim(
        new_worker_id(), 2, queues=None, lease_s=30, now=time.time(), start=1
    )
    assert [t.status for t in claimed] == [Status.RUNNING, Status.QUEUED]
    assert {t.id for t in claimed} == {queued, running}

    pruned = await Retention(queue.driver, retention_s=RETENTION_S, interval_s=60).prune()
    assert pruned == 3
    left = await remaining(queue)
    assert left.isdisjoint(old)
    assert left == {recent, queued, running}


async def test_prune_goes_on_batch_after_batch(queue: Queue) -> None:
    for _ in range(5):
        await finished(queue, Status.COMPLETED, ago_s=AGO_S)
    retention = Retention(queue.driver, retention_s=RETENTION_S, interval_s=60, batch=2)
    assert await retention.prune() == 5
    assert await remaining(queue) == set()


async def test_a_retention_of_zero_keeps_everything(queue: Queue) -> None:
    kept = await finished(queue, Status.COMPLETED, ago_s=AGO_S)
    await asyncio.wait_for(Retention(queue.driver, retention_s=0, interval_s=0.01).run(), 5)
    assert await remaining(queue) == {kept}
