"""Events (taskq/events.py) as the queue and a real worker emit them, heard through the
store's own channel by a subscriber of the same process: which changes are told, in which
order, with which status, and which are not told at all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.support.heard import Heard
from tests.support.waiting import until_status
from tests.support.worker import actions, running

from taskq.actions import Action, Fail
from taskq.filters import TaskFilter
from taskq.queue import Queue
from taskq.task import MAX_ACTION_LENGTH, MAX_QUEUE_LENGTH, NewTask, Status
from taskq.worker.identity import new_worker_id
from taskq.worker.lease_rescue import LeaseRescue


async def test_a_completed_task_is_submitted_started_completed(queue: Queue, heard: Heard) -> None:
    async with running(queue, actions()):
        task = await queue.enqueue("uppercase", {"text": "hi"}, queue="q1")
        events = await heard.until_kinds(task.id, ["submitted", "started", "completed"])
    assert [e.status for e in events] == [Status.QUEUED, Status.RUNNING, Status.COMPLETED]
    assert [e.attempt for e in events] == [0, 1, 1]
    assert {(e.queue, e.action) for e in events} == {("q1", "uppercase")}
    assert events[0].at <= events[1].at <= events[2].at
    assert events[0].at == pytest.approx(task.created_at, abs=1)
    counts = [b.counts for b in heard.batches if b is not None and b.tasks]
    assert sum(c.get("completed", 0) for c in counts) == 1


async def test_a_failing_task_is_retried_then_failed(queue: Queue, heard: Heard) -> None:
    async def boom(data: dict[str, Any]) -> None:
        raise ValueError("boom")

    async with running(queue, actions(Action("boom", boom)), max_attempts=2):
        task = await queue.enqueue("boom")
        kinds = ["submitted", "started", "retried", "started", "failed"]
        events = await heard.until_kinds(task.id, kinds)
    assert [e.status for e in events] == [
        Status.QUEUED,
        Status.RUNNING,
        Status.QUEUED,
        Status.RUNNING,
        Status.FAILED,
    ]
    assert [e.attempt for e in events] == [0, 1, 1, 2, 2]


async def test_cancelling_a_queued_task_is_told(queue: Queue, heard: Heard) -> None:
    task = await queue.enqueue("x")
    await queue.cancel(task.id)
    events = await heard.until_kinds(task.id, ["submitted", "cancelled"])
    assert events[1].status is Status.CANCELLED


async def test_cancelling_a_cancelled_task_again_tells_nothing_new(
    queue: Queue, heard: Heard
) -> None:
    """Cancel answers a cancelled task as it is (nothing changed): no second event."""
    task = await queue.enqueue("x")
    await queue.cancel(task.id)
    await queue.cancel(task.id)
    await heard.everything_so_far(queue)
    assert heard.kinds(task.id) == ["submitted", "cancelled"]


async def test_a_running_task_cancelled_is_told_by_its_worker_once_it_stops(
    queue: Queue, heard: Heard
) -> None:
    async def wait(data: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    async with running(queue, actions(Action("wait", wait)), cancel_poll_s=0.02):
        task = await queue.enqueue("wait")
        await heard.until_kinds(task.id, ["submitted", "started"])
        asked = await queue.cancel(task.id)
        assert asked.status is Status.RUNNING, "asked to stop, not yet stopped"
        events = await heard.until_kinds(task.id, ["submitted", "started", "cancelled"])
    assert events[-1].status is Status.CANCELLED


async def test_retrying_a_failed_task_then_cancelling_and_deleting_it_is_told(
    queue: Queue, heard: Heard
) -> None:
    async def give_up(data: dict[str, Any]) -> None:
        raise Fail("no")

    async with running(queue, actions(Action("give_up", give_up))):
        task = await queue.enqueue("give_up")
        await heard.until_kinds(task.id, ["submitted", "started", "failed"])
    await until_status(queue, task.id, Status.FAILED)
    await queue.retry(task.id)
    await queue.cancel(task.id)
    await queue.delete(task.id)
    events = await heard.until_kinds(
        task.id, ["submitted", "started", "failed", "retried", "cancelled", "deleted"]
    )
    assert [e.status for e in events[3:]] == [Status.QUEUED, Status.CANCELLED, Status.CANCELLED]
    assert events[3].attempt == 0, "a retry starts a fresh attempt budget"


async def test_an_idempotent_duplicate_is_not_submitted_again(queue: Queue, heard: Heard) -> None:
    first = await queue.enqueue("x", {"n": 1}, idempotency_key="k")
    again = await queue.enqueue("x", {"n": 1}, idempotency_key="k")
    assert again.id == first.id
    await heard.everything_so_far(queue)
    assert heard.kinds(first.id) == ["submitted"]


async def test_the_same_submission_sent_twice_is_submitted_once(queue: Queue, heard: Heard) -> None:
    """A caller that sends the same ``NewTask`` again (say, after a timeout it could not
    tell from a failure) is answered with the task stored the first time: not a new one."""
    new = NewTask(action="x", data={"n": 1}, idempotency_key="k")
    (first,) = await queue.enqueue_many([new])
    (again,) = await queue.enqueue_many([new])
    assert again.id == first.id == new.id
    assert len(await queue.driver.list_tasks(limit=10)) == 1
    await heard.everything_so_far(queue)
    assert heard.kinds(first.id) == ["submitted"]


async def test_a_bulk_action_is_told_as_a_resync(queue: Queue, heard: Heard) -> None:
    bulk = TaskFilter(queues=("bulk",))
    for _ in range(3):
        await queue.enqueue("x", queue="bulk")
    result = await queue.cancel_matching(bulk)
    assert result.changed == 3
    await heard.until(heard.resyncs, "a resync")
    assert heard.resyncs() == ["3 tasks cancelled"]
    await queue.retry_matching(bulk)
    await heard.until(lambda: len(heard.resyncs()) == 2, "a second resync")
    await queue.cancel_matching(bulk)
    await queue.delete_matching(bulk)
    await heard.until(lambda: len(heard.resyncs()) >= 3, "the delete's resync")
    assert heard.resyncs()[1] == "3 tasks retried"
    assert heard.resyncs()[-1] == "3 tasks deleted", "the latest reason of one moment"


async def test_a_bulk_action_that_changed_nothing_is_not_told(queue: Queue, heard: Heard) -> None:
    await queue.retry_matching(TaskFilter(queues=("nothing-here",)))
    await heard.everything_so_far(queue)
    assert heard.resyncs() == []


async def test_recovered_leases_are_told_as_a_resync(queue: Queue, heard: Heard) -> None:
    lost = new_worker_id()
    task = await queue.enqueue("x")
    await queue.driver.claim(lost, 1, queues=None, lease_s=-1, now=task.created_at)
    rescue = LeaseRescue(
        queue.driver, new_worker_id(), set(), lease_s=30, max_attempts=3, events=queue.events
    )
    assert await rescue.recover() == 1
    await heard.until(heard.resyncs, "a resync")
    assert "1 tasks recovered" in heard.resyncs()[0]


async def test_a_worker_is_told_to_join_and_to_leave(queue: Queue, heard: Heard) -> None:
    async with running(queue, actions()) as worker:
        await heard.until(lambda: heard.workers() == [("joined", worker.id)], "joined")
    await heard.until(
        lambda: heard.workers() == [("joined", worker.id), ("left", worker.id)], "left"
    )


async def test_a_burst_of_submissions_with_long_names_is_heard(queue: Queue, heard: Heard) -> None:
    """More changes in one moment than are detailed, with the longest queue and action
    names: the batch still reaches the listeners (counted, the rest dropped), whatever the
    store (PostgreSQL's NOTIFY refuses 8,000 bytes or more)."""
    n = 60
    long_queue, long_action = "q" * MAX_QUEUE_LENGTH, "a" * MAX_ACTION_LENGTH
    await queue.enqueue_many([NewTask(action=long_action, queue=long_queue) for _ in range(n)])
    await heard.until(
        lambda: sum(b.counts.get("submitted", 0) for b in heard.batches if b) == n,
        f"{n} submissions counted",
    )
    assert sum(b.dropped for b in heard.batches if b) == n - len(heard.tasks())
