"""The consumer loop under flow control (taskq/flow.py), on every driver: a limited queue
drains at its limit without waiting for the poll, and a resume wakes an idle worker."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.waiting import until, until_terminal
from tests.support.worker import actions, is_waiting_for_work, running

from taskq.actions import Action
from taskq.queue import Queue
from taskq.task import NewTask, Status


async def test_a_limited_queue_runs_at_its_limit_and_a_freed_slot_is_taken_at_once(
    queue: Queue,
) -> None:
    active = peak = 0

    async def track(data: dict[str, Any]) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1

    await queue.update_queue("lim", concurrency=2)
    # a 30 s poll: only a runner that frees a slot can start the next task in time
    async with running(queue, actions(Action("track", track)), concurrency=4, poll_interval_s=30):
        tasks = await queue.enqueue_many([NewTask(action="track", queue="lim") for _ in range(12)])
        for task in tasks:
            assert (await until_terminal(queue, task.id, timeout_s=5)).status is Status.COMPLETED
    assert peak == 2


async def test_resuming_a_queue_wakes_an_idle_worker_without_polling(queue: Queue) -> None:
    await queue.update_queue("held", paused=True)
    async with running(queue, actions(), poll_interval_s=30):
        task = await queue.enqueue("uppercase", {"text": "x"}, queue="held")
        await until(is_waiting_for_work, 5, what="the worker to be idle, waiting up to 30 s")
        await queue.update_queue("held", paused=False)
        done = await until_terminal(queue, task.id, timeout_s=5)
    assert done.status is Status.COMPLETED
