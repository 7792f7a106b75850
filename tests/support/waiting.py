"""Waiting for a condition with a deadline, never for a fixed time.

``wait_until`` (blocking, for process-level tests) and ``until`` (async) poll a predicate
until it returns something truthy, and return that value; after ``timeout_s`` they fail
with what was awaited, the predicate's last answer and, if given, ``details()``. The task
waits below are built on ``until``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from taskq.queue import Queue
from taskq.task import Status, Task

T = TypeVar("T")


def _timed_out(timeout_s: float, what: str, last: object, details: Callable[[], str] | None) -> str:
    extra = f"\n{details()}" if details else ""
    return f"timed out after {timeout_s}s waiting for {what} (last answer: {last!r}){extra}"


def wait_until(
    predicate: Callable[[], T | None],
    timeout_s: float,
    *,
    what: str,
    interval_s: float = 0.05,
    details: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout_s, what, value, details))
        time.sleep(interval_s)


@overload
async def until(
    predicate: Callable[[], Awaitable[T | None]],
    timeout_s: float = ...,
    *,
    what: str,
    interval_s: float = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


@overload
async def until(
    predicate: Callable[[], T | None],
    timeout_s: float = ...,
    *,
    what: str,
    interval_s: float = ...,
    details: Callable[[], str] | None = ...,
) -> T: ...


async def until(
    predicate: Callable[[], Any],
    timeout_s: float = 10,
    *,
    what: str,
    interval_s: float = 0.01,
    details: Callable[[], str] | None = None,
) -> Any:
    """``wait_until`` on the event loop: ``predicate`` may be sync or return an awaitable."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = predicate()
        value = await answer if inspect.isawaitable(answer) else answer
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout_s, what, value, details))
        await asyncio.sleep(interval_s)


async def until_task(
    queue: Queue, task_id: str, check: Callable[[Task], bool], *, what: str, timeout_s: float = 10
) -> Task:
    """The task once ``check(task)`` holds; fails at once if the task is not stored."""

    last: list[Task] = []

    async def task_if_checked() -> Task | None:
        task = await queue.get(task_id)
        assert task is not None, f"task {task_id} is not stored"
        last[:] = [task]
        return task if check(task) else None

    return await until(
        task_if_checked,
        timeout_s,
        what=f"task {task_id} {what}",
        details=lambda: f"the task: {last[0] if last else None}",
    )


async def until_status(queue: Queue, task_id: str, status: Status, timeout_s: float = 10) -> Task:
    """The task once its status is ``status``."""
    return await until_task(
        queue, task_id, lambda t: t.status is status, what=f"to be {status}", timeout_s=timeout_s
    )


async def until_terminal(queue: Queue, task_id: str, timeout_s: float = 10) -> Task:
    """The task once it is completed, failed or cancelled."""
    return await until_task(
        queue, task_id, lambda t: t.status.is_terminal, what="to finish", timeout_s=timeout_s
    )
