"""The scheduled enqueuer alone, against a real database: one task per tick."""

from __future__ import annotations

import asyncio
import calendar

from taskq.filters import TaskFilter
from taskq.queue import Queue
from taskq.worker.cron import Cron, tick_key

TICK = float(calendar.timegm((2030, 1, 1, 12, 5, 0)))


async def test_a_tick_is_enqueued_once_whoever_enqueues_it(queue: Queue) -> None:
    schedules = {"report": "*/5 * * * *"}
    one, other = Cron(queue, schedules), Cron(queue, schedules)
    await asyncio.gather(one.enqueue("report", TICK), other.enqueue("report", TICK))
    await one.enqueue("report", TICK)
    tasks = await queue.list_tasks(TaskFilter(actions=("report",)))
    assert (
        [t.idempotency_key for t in tasks]
        == [tick_key("report", TICK)]
        == ["cron:report:1893499500"]
    )
    await other.enqueue("report", TICK + 300)
    assert len(await queue.list_tasks(TaskFilter(actions=("report",)))) == 2, (
        "the next tick is a new task"
    )


async def test_ticks_follow_the_expression(queue: Queue) -> None:
    cron = Cron(queue, {"report": "*/5 * * * *"})
    assert cron.next_tick("report", TICK - 90) == TICK
    assert cron.next_tick("report", TICK) == TICK + 300, "strictly after"


async def test_without_schedules_nothing_runs(queue: Queue) -> None:
    await asyncio.wait_for(Cron(queue, {}).run(), 5)
    assert await queue.list_tasks() == []
