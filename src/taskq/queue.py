"""The producer's and reader's side of taskq: submit tasks, read them, manage them.

The HTTP API and in-process producers both go through ``Queue``; it validates, stamps
times and delegates storage to a driver.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

from taskq import drivers, migrations
from taskq.drivers.base import Driver
from taskq.task import DEFAULT_QUEUE, NewTask, Status, Task, validate


class Queue:
    """Tasks in one store, reached through its driver."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    @classmethod
    def connect(
        cls, database: str, *, sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    ) -> Queue:
        """A queue on ``database`` (a SQLite path, ``sqlite:///…`` or ``postgresql://…``)."""
        return cls(drivers.for_url(database, sqlite_synchronous=sqlite_synchronous))

    async def open(self) -> None:
        """Check the schema is current, then connect."""
        await asyncio.to_thread(migrations.check, self.driver.url)
        await self.driver.open()

    async def close(self) -> None:
        await self.driver.close()

    async def __aenter__(self) -> Queue:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def enqueue(
        self,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
        run_at: float | None = None,
    ) -> Task:
        """Submit one task; it is committed when this returns."""
        new = NewTask(
            action=action,
            data={} if data is None else data,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            timeout_s=timeout_s,
            run_at=run_at,
        )
        (task,) = await self.enqueue_many([new])
        return task

    async def enqueue_many(self, tasks: Sequence[NewTask]) -> list[Task]:
        """Submit tasks in one commit: all are stored, or none."""
        for new in tasks:
            validate(new)
        if not tasks:
            return []
        return await self.driver.publish(tasks, now=time.time())

    async def get(self, task_id: str) -> Task | None:
        return await self.driver.get(task_id)

    async def list_tasks(
        self,
        *,
        status: Status | None = None,
        action: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        """Tasks newest first; pass the last task's ``seq`` as ``before_seq`` for the next page."""
        return await self.driver.list_tasks(
            status=status, action=action, limit=limit, before_seq=before_seq
        )

    async def counts(self) -> dict[Status, int]:
        return await self.driver.counts()

    async def ping(self) -> None:
        await self.driver.ping()
