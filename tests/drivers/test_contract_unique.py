"""The driver contract for unique keys (NewTask.unique_key, migration 0008): while a task
holding a key is queued or running, a submission with the key answers that task; once it
finished, the key is free. Every driver must pass it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from taskq.errors import InvalidTask, TaskConflict
from taskq.filters import TaskFilter
from taskq.queue import Queue
from taskq.task import MAX_UNIQUE_KEY, AttemptError, NewTask, Status

LEASE_S = 30.0


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[Queue]:
    """A second queue on the same store: another API process, or another host."""
    async with Queue.connect(database_url) as q:
        yield q


async def start_one(queue: Queue, worker: str = "w") -> str:
    claimed = await queue.driver.claim(
        worker, 1, queues=None, lease_s=LEASE_S, now=time.time(), start=1
    )
    (task,) = claimed.started
    return task.id


async def holding(queue: Queue, key: str) -> list[str]:
    """The ids of every stored task holding ``key``."""
    tasks = await queue.list_tasks(limit=1000)
    return [t.id for t in tasks if t.unique_key == key]


async def test_a_key_held_by_a_queued_or_running_task_answers_that_task(queue: Queue) -> None:
    first = await queue.enqueue("sync", {"customer": 1}, unique_key="sync:1")
    assert first.unique_key == "sync:1"
    again = await queue.enqueue("sync", {"customer": 1, "other": "data"}, unique_key="sync:1")
    assert (again.id, again.status) == (first.id, Status.QUEUED)

    assert await start_one(queue) == first.id
    while_running = await queue.enqueue("sync", unique_key="sync:1")
    assert (while_running.id, while_running.status) == (first.id, Status.RUNNING)
    assert await holding(queue, "sync:1") == [first.id]


async def test_a_finished_task_frees_its_key(queue: Queue) -> None:
    first = await queue.enqueue("sync", unique_key="k")
    await start_one(queue)
    assert await queue.driver.complete(first.id, "w", "null", now=time.time())
    second = await queue.enqueue("sync", unique_key="k")
    assert second.id != first.id
    assert second.status is Status.QUEUED
    # cancelled frees it too
    await queue.cancel(second.id)
    third = await queue.enqueue("sync", unique_key="k")
    assert third.id not in (first.id, second.id)
    assert sorted(await holding(queue, "k")) == sorted([first.id, second.id, third.id])


async def test_keys_are_independent_and_tasks_without_one_are_untouched(queue: Queue) -> None:
    a = await queue.enqueue("x", unique_key="a")
    b = await queue.enqueue("x", unique_key="b")
    plain = [await queue.enqueue("x") for _ in range(3)]
    assert len({a.id, b.id, *(t.id for t in plain)}) == 5
    assert all(t.unique_key is None for t in plain)


async def test_one_batch_holding_a_key_twice_stores_the_first(queue: Queue) -> None:
    news = [
        NewTask(action="x", unique_key="dup"),
        NewTask(action="y"),
        NewTask(action="x", unique_key="dup"),
    ]
    first, plain, second = await queue.enqueue_many(news)
    assert first.id == news[0].id
    assert plain.id == news[1].id
    assert second.id == first.id
    assert await holding(queue, "dup") == [first.id]


async def test_racing_submissions_store_one_task(queue: Queue, other: Queue) -> None:
    """Two processes' worth of concurrent submissions with one key: one task, everyone
    answered with it (on PostgreSQL each process's round is its own transaction, so the
    unique index decides)."""
    answers = await asyncio.gather(
        *(q.enqueue("race", {"n": n}, unique_key="race") for n in range(20) for q in (queue, other))
    )
    assert len({t.id for t in answers}) == 1
    assert await holding(queue, "race") == [answers[0].id]


async def test_an_idempotency_key_beside_a_held_unique_key_is_not_a_conflict(queue: Queue) -> None:
    holder = await queue.enqueue("x", {"v": 1}, unique_key="u", idempotency_key="req-1")
    answered = await queue.enqueue("x", {"v": 2}, unique_key="u", idempotency_key="req-2")
    assert answered.id == holder.id
    # the idempotency key still guards its own request
    with pytest.raises(TaskConflict):
        await queue.enqueue("x", {"v": 3}, idempotency_key="req-1", unique_key="u")


async def test_only_the_newest_task_holding_a_key_is_retried_by_hand(queue: Queue) -> None:
    async def fail(task_id: str) -> None:
        assert await start_one(queue) == task_id
        error = AttemptError(attempt=1, error="boom", at=time.time())
        assert await queue.driver.fail(task_id, "w", error, now=time.time())

    old = await queue.enqueue("x", unique_key="k")
    await fail(old.id)
    new = await queue.enqueue("x", unique_key="k")
    await fail(new.id)

    with pytest.raises(TaskConflict, match="later task took unique key 'k'"):
        await queue.retry(old.id)
    retried = await queue.retry(new.id)
    assert retried.status is Status.QUEUED
    # while it is queued the key is held: a new submission answers it
    assert (await queue.enqueue("x", unique_key="k")).id == new.id


async def test_a_bulk_retry_takes_one_task_per_key(queue: Queue) -> None:
    failed = []
    for _ in range(3):
        task = await queue.enqueue("x", unique_key="k")
        assert await start_one(queue) == task.id
        error = AttemptError(attempt=1, error="boom", at=time.time())
        assert await queue.driver.fail(task.id, "w", error, now=time.time())
        failed.append(task.id)
    plain = await queue.enqueue("y")
    await queue.cancel(plain.id)

    done = await queue.retry_matching(TaskFilter(), all_tasks=True)
    assert (done.changed, done.more) == (2, False)  # the newest of "k", and the plain one
    by_id = {t.id: t.status for t in await queue.list_tasks()}
    assert by_id[failed[-1]] is Status.QUEUED
    assert by_id[plain.id] is Status.QUEUED
    assert by_id[failed[0]] is by_id[failed[1]] is Status.FAILED


@pytest.mark.parametrize("key", ["", "k" * (MAX_UNIQUE_KEY + 1), "nul\x00"])
async def test_a_unique_key_some_store_cannot_keep_is_refused(queue: Queue, key: str) -> None:
    with pytest.raises(InvalidTask) as refused:
        await queue.enqueue("x", unique_key=key)
    assert refused.value.field == "unique_key"
