"""Cancellation, timeouts, backoff, retention and schedules, on a real database."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from tests.support.waiting import until, until_status, until_task, until_terminal, wait_until
from tests.support.worker import actions, running

from taskq.actions import Action, demo_actions, is_cancelled
from taskq.errors import TaskConflict
from taskq.filters import TaskFilter
from taskq.queue import Queue
from taskq.task import Status
from taskq.worker import Worker


async def test_cancelling_a_running_async_task_stops_it(queue: Queue) -> None:
    reached_end = False

    async def long(data: dict[str, Any]) -> None:
        nonlocal reached_end
        await asyncio.sleep(30)
        reached_end = True

    acts = actions(Action("long", long))
    async with running(queue, acts, cancel_poll_s=0.02):
        task = await queue.enqueue("long")
        await until_status(queue, task.id, Status.RUNNING)
        requested = await queue.cancel(task.id)
        assert (requested.status, requested.cancel_requested) == (Status.RUNNING, True)
        final = await until_terminal(queue, task.id)
        follow = await until_terminal(queue, (await queue.enqueue("uppercase", {"text": "x"})).id)
    assert (final.status, final.error, final.attempts) == (Status.CANCELLED, "cancelled", 1)
    assert not reached_end
    assert follow.status is Status.COMPLETED, "the worker goes on"


async def test_a_sync_handler_sees_the_cancellation_flag(queue: Queue) -> None:
    saw_flag = threading.Event()

    def polite(data: dict[str, Any]) -> str:
        wait_until(is_cancelled, 10, what="the cancellation flag", interval_s=0.005)
        saw_flag.set()
        return "stopped early"

    async with running(queue, actions(Action("polite", polite)), cancel_poll_s=0.02):
        task = await queue.enqueue("polite")
        await until_status(queue, task.id, Status.RUNNING)
        await queue.cancel(task.id)
        final = await until_terminal(queue, task.id)
    assert saw_flag.is_set()
    assert final.status is Status.CANCELLED


async def test_a_sync_handler_that_ignores_cancellation_is_abandoned(queue: Queue) -> None:
    release = threading.Event()

    def stubborn(data: dict[str, Any]) -> None:
        release.wait(10)

    acts = actions(Action("stubborn", stubborn))
    try:
        async with running(queue, acts, concurrency=1, cancel_poll_s=0.02, cancel_grace_s=0.1):
            task = await queue.enqueue("stubborn")
            await until_status(queue, task.id, Status.RUNNING)
            await queue.cancel(task.id)
            final = await until_terminal(queue, task.id)
            # its thread is still stuck, yet sync work goes on in a fresh pool
            other = await queue.enqueue("quick")
            assert (await until_terminal(queue, other.id)).status is Status.COMPLETED
    finally:
        release.set()
    assert final.status is Status.CANCELLED


async def test_a_sync_handler_past_its_timeout_is_told_and_retried(queue: Queue) -> None:
    told = 0

    def slow(data: dict[str, Any]) -> None:
        nonlocal told
        wait_until(is_cancelled, 10, what="the timeout to be told", interval_s=0.005)
        told += 1

    acts = actions(Action("slow", slow, timeout_s=0.05))
    async with running(queue, acts, max_attempts=2):
        final = await until_terminal(queue, (await queue.enqueue("slow")).id)
    assert (final.status, final.attempts, told) == (Status.FAILED, 2, 2)
    assert final.error == "timed out after 0.05s"


async def test_a_cancel_of_a_finished_task_is_refused(queue: Queue) -> None:
    async with running(queue, actions()):
        task = await until_terminal(queue, (await queue.enqueue("uppercase")).id)
    with pytest.raises(TaskConflict, match="already completed"):
        await queue.cancel(task.id)


async def test_an_actions_backoff_sets_the_retry_delay(queue: Queue) -> None:
    async def flaky(data: dict[str, Any]) -> None:
        raise RuntimeError("again")

    acts = actions(Action("flaky", flaky, backoff=lambda attempt: 60.0 * attempt))
    async with running(queue, acts, max_attempts=3):
        task = await queue.enqueue("flaky")
        first_fail = await until_task(
            queue,
            task.id,
            lambda t: t.status is Status.QUEUED and t.attempts > 0,
            what="to be queued again after a failed attempt",
        )
    assert first_fail.attempts == 1
    assert 59 < first_fail.run_at - first_fail.errors[0].at <= 60.5


async def test_finished_tasks_past_retention_are_pruned(queue: Queue) -> None:
    async with running(queue, actions()):
        done = await until_terminal(queue, (await queue.enqueue("uppercase")).id)
    waiting = await queue.enqueue("later", run_at=time.time() + 3600)
    async with running(queue, actions(), retention_s=0.01, prune_interval_s=0.02):

        async def pruned() -> bool:
            return await queue.get(done.id) is None

        await until(pruned, 5, what="the finished task to be pruned")
    assert await queue.get(waiting.id) is not None, "unfinished tasks are kept"


async def test_a_schedule_enqueues_once_per_tick_across_workers(queue: Queue) -> None:
    every_second = Action("tick", demo_actions(0)[1].handler, cron="* * * * * *")
    acts = actions(every_second)
    async with running(queue, acts), running(queue, acts):

        async def three_ticks() -> bool:
            return len(await queue.list_tasks(TaskFilter(actions=("tick",)))) >= 3

        await until(three_ticks, 10, what="3 ticks enqueued", interval_s=0.05)
    ticks = await queue.list_tasks(TaskFilter(actions=("tick",)))
    keys = [t.idempotency_key for t in ticks]
    assert len(keys) == len(set(keys)), f"a tick was enqueued twice: {keys}"
    assert all(k and k.startswith("cron:tick:") for k in keys)


async def test_a_worker_consumes_only_its_queues(queue: Queue) -> None:
    emails = await queue.enqueue("uppercase", {"text": "mail"}, queue="emails")
    reports = await queue.enqueue("uppercase", {"text": "report"}, queue="reports")
    async with running(queue, actions(), queues=["emails"]):
        done = await until_terminal(queue, emails.id)
    waiting = await queue.get(reports.id)
    assert done.status is Status.COMPLETED
    assert waiting is not None
    assert waiting.status is Status.QUEUED, "another queue's task is left alone"


async def test_higher_priority_runs_first(queue: Queue) -> None:
    order: list[str] = []

    async def record(data: dict[str, Any]) -> None:
        order.append(data["name"])

    low = await queue.enqueue("record", {"name": "low"}, priority=0)
    high = await queue.enqueue("record", {"name": "high"}, priority=10)
    async with running(queue, actions(Action("record", record)), concurrency=1, prefetch=0):
        await until_terminal(queue, low.id)
        await until_terminal(queue, high.id)
    assert order == ["high", "low"]


async def test_a_prefetched_higher_priority_task_runs_before_earlier_lower_ones(
    queue: Queue,
) -> None:
    """Tasks prefetched while the runner is busy wait in priority order, not arrival order."""
    order: list[str] = []
    gate = asyncio.Event()

    async def record(data: dict[str, Any]) -> None:
        if data["name"] == "blocker":
            await gate.wait()
        order.append(data["name"])

    acts = actions(Action("record", record))
    async with running(queue, acts, concurrency=1, prefetch=5) as worker:
        blocker = await queue.enqueue("record", {"name": "blocker"})
        await until_status(queue, blocker.id, Status.RUNNING)
        lows = [await queue.enqueue("record", {"name": f"low{i}"}) for i in range(3)]
        await until_in_hand(worker, 4)  # the lows wait in the worker's buffer
        high = await queue.enqueue("record", {"name": "high"}, priority=10)
        await until_in_hand(worker, 5)
        gate.set()
        for task in [*lows, high]:
            await until_terminal(queue, task.id)
    assert order == ["blocker", "high", "low0", "low1", "low2"]


async def until_in_hand(worker: Worker, n: int, timeout_s: float = 5) -> None:
    await until(
        lambda: worker._in_hand >= n,
        timeout_s,
        what=f"the worker to hold {n} tasks",
        details=lambda: f"it holds {worker._in_hand}",
    )
