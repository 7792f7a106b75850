"""The local buffer alone: prefetched tasks wait in the store's order, whenever they came."""

from __future__ import annotations

from taskq.task import Status, Task
from taskq.worker.buffer import Buffer


def task(name: str, *, priority: int = 0, seq: int, started: bool = False) -> Task:
    status = Status.RUNNING if started else Status.QUEUED
    return Task(id=name, action="a", payload={}, status=status, priority=priority, seq=seq)


async def test_started_tasks_then_priority_then_fifo_whatever_the_arrival_order() -> None:
    buffer = Buffer()
    for t in [
        task("low2", seq=3),
        task("low1", seq=2),
        task("high", priority=5, seq=4),
        task("started", seq=9, started=True),
    ]:
        buffer.put(t)
    assert [t.id for t in buffer.take_all()] == ["started", "high", "low1", "low2"]


async def test_a_closed_buffer_still_hands_out_every_task_first() -> None:
    buffer = Buffer()
    buffer.put(task("before", seq=1))
    buffer.close()
    buffer.put(task("after", seq=2))
    got = [await buffer.get() for _ in range(3)]
    assert [t.id if t else None for t in got] == ["before", "after", None]


async def test_take_all_drops_the_stop_signals() -> None:
    buffer = Buffer()
    buffer.close()
    buffer.put(task("a", seq=1))
    assert [t.id for t in buffer.take_all()] == ["a"]
    assert buffer.qsize() == 0
