"""A subscriber to a queue's events (taskq/events.py) that keeps what it is told, for
tests that check which changes are told, and the fixture that subscribes it."""

from __future__ import annotations

from typing import Any

from tests.support.waiting import until

from taskq.events import Batch, TaskEvent
from taskq.queue import Queue

HEARD_WITHIN_S = 5.0


class Heard:
    """Every batch a subscriber was given, in order."""

    def __init__(self) -> None:
        self.batches: list[Batch | None] = []

    def __call__(self, batch: Batch | None) -> None:
        self.batches.append(batch)

    def tasks(self, task_id: str | None = None) -> list[TaskEvent]:
        return [
            t
            for b in self.batches
            if b is not None
            for t in b.tasks
            if task_id is None or t.id == task_id
        ]

    def kinds(self, task_id: str) -> list[str]:
        return [t.kind for t in self.tasks(task_id)]

    def workers(self) -> list[tuple[str, str]]:
        return [(w.kind, w.id) for b in self.batches if b is not None for w in b.workers]

    def resyncs(self) -> list[str]:
        return [b.resync for b in self.batches if b is not None and b.resync is not None]

    def describe(self) -> str:
        return "heard:\n" + "\n".join(repr(b) for b in self.batches)

    async def until(self, check: Any, what: str) -> Any:
        return await until(check, HEARD_WITHIN_S, what=what, details=self.describe)

    async def until_kinds(self, task_id: str, kinds: list[str]) -> list[TaskEvent]:
        """The task's events once they are ``kinds`` (fails on more, or others, too)."""
        await self.until(lambda: self.kinds(task_id) == kinds, f"{kinds} for {task_id}")
        return self.tasks(task_id)

    async def everything_so_far(self, queue: Queue) -> None:
        """Wait until what this process emitted so far was heard: a sentinel submitted
        now is heard after it (one process's changes are sent in order)."""
        sentinel = await queue.enqueue("sentinel", queue="sentinel")
        await self.until(lambda: self.kinds(sentinel.id), "the sentinel to be heard")
