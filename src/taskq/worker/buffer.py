"""The local buffer: claimed tasks waiting in a worker for a free runner."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from taskq.task import Status, Task


def claim_order(task: Task) -> tuple[int, int, float, int]:
    """Where a claimed task goes in the local buffer: started ones first (they already
    run, in the store's eyes), then as the store orders them: priority, then FIFO."""
    return (task.status is not Status.RUNNING, -task.priority, task.run_at, task.seq)


class Buffer:
    """Claimed tasks waiting for a runner, in claim order, whenever each arrived: a
    high-priority task prefetched late still runs before lower-priority ones."""

    def __init__(self) -> None:
        self._queue: asyncio.PriorityQueue[tuple[tuple[Any, ...], int, Task | None]] = (
            asyncio.PriorityQueue()
        )
        self._arrivals = itertools.count()

    def put(self, task: Task) -> None:
        """Add a claimed task in its place."""
        self._queue.put_nowait((claim_order(task), next(self._arrivals), task))

    def close(self) -> None:
        """Tell one runner to stop once the tasks before this are taken."""
        self._queue.put_nowait(((2,), next(self._arrivals), None))

    async def get(self) -> Task | None:
        """The next task, or None: the runner should stop."""
        return (await self._queue.get())[2]

    def take_all(self) -> list[Task]:
        """Empty the buffer: its tasks, in order."""
        taken: list[Task] = []
        while not self._queue.empty():
            if (task := self._queue.get_nowait()[2]) is not None:
                taken.append(task)
        return taken

    def qsize(self) -> int:
        """How many entries wait (tasks and stop signals)."""
        return self._queue.qsize()
