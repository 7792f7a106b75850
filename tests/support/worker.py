"""A worker running in the background of a test, stopped (and awaited) when the test ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from taskq.actions import Action, Actions, demo_actions
from taskq.queue import Queue
from taskq.worker import Worker


def actions(*extra: Action) -> Actions:
    """The demo actions (no delay) and ``extra``."""
    demo, fallback = demo_actions(0)
    return Actions([*demo, *extra], fallback)


@asynccontextmanager
async def running(queue: Queue, acts: Actions, **kw: Any) -> AsyncIterator[Worker]:
    """A worker on ``queue``, quick to back off and to poll unless ``kw`` says otherwise."""
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("poll_interval_s", 0.05)
    worker = Worker(queue, acts, **kw)
    runner = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(runner, 10)


def is_waiting_for_work() -> bool:
    """Whether a task on this event loop is inside a driver's ``wait_for_work``: a worker
    that found nothing to claim and now waits to be woken (or for its poll interval)."""
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        if getattr(coro, "__qualname__", "").endswith(".wait_for_work"):
            return True
    return False
