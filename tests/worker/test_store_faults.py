"""A worker through transient store failures (a PostgreSQL restart, a full disk): every
task still finishes, without restarting the worker, and none stays ``running``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.support.waiting import until_terminal

from taskq.actions import Actions, demo_actions
from taskq.drivers.base import Driver
from taskq.errors import StoreUnavailable
from taskq.queue import Queue
from taskq.task import Status
from taskq.worker import Worker


class FailingWrites:
    """A real driver whose named verbs fail with StoreUnavailable their first ``times``
    calls, as they do while a server restarts or the disk is full.

    With ``after=True`` the verb runs first and only its answer is lost: the write
    committed, but the caller cannot know it (a connection dropped after COMMIT).
    """

    def __init__(self, driver: Driver, verb: str, times: int, *, after: bool = False) -> None:
        self._driver = driver
        self._verb = verb
        self._left = times
        self._after = after
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._driver, name)
        if name != self._verb:
            return real

        async def failing(*args: Any, **kwargs: Any) -> Any:
            if self._left <= 0:
                return await real(*args, **kwargs)
            self._left -= 1
            self.failed += 1
            if self._after:
                await real(*args, **kwargs)
            raise StoreUnavailable(f"injected: {name} failed")

        return failing


def demo() -> Actions:
    acts, fallback = demo_actions(0)
    return Actions(acts, fallback)


@asynccontextmanager
async def worker_on(driver: Any, **kw: Any) -> AsyncIterator[Worker]:
    kw.setdefault("poll_interval_s", 0.05)
    worker = Worker(Queue(driver), demo(), **kw)
    run = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(run, 10)


async def submit(queue: Queue, action: str = "uppercase") -> str:
    return (await queue.enqueue(action, {"text": "hi"})).id


async def test_an_outcome_the_store_refused_is_recorded_once_it_answers(queue: Queue) -> None:
    flaky = FailingWrites(queue.driver, "complete", times=3)
    async with worker_on(flaky, lease_s=30):
        task = await until_terminal(queue, await submit(queue))
    assert flaky.failed == 3
    assert (task.status, task.result, task.attempts) == (Status.COMPLETED, {"output": "HI"}, 1)


async def test_a_failure_the_store_refused_is_recorded_once_it_answers(queue: Queue) -> None:
    flaky = FailingWrites(queue.driver, "fail", times=2)
    async with worker_on(flaky, lease_s=30):
        task = await until_terminal(queue, (await queue.enqueue("sum", {"numbers": ["a"]})).id)
    assert flaky.failed == 2
    assert (task.status, task.attempts) == (Status.FAILED, 1)


async def test_a_prefetched_task_whose_start_failed_still_runs(queue: Queue) -> None:
    flaky = FailingWrites(queue.driver, "start", times=2)
    # one runner, busy with the first task: the others are prefetched, then started alone
    async with worker_on(flaky, concurrency=1, prefetch=4, lease_s=30):
        ids = [await submit(queue) for _ in range(4)]
        tasks = [await until_terminal(queue, task_id) for task_id in ids]
    assert flaky.failed == 2
    assert {t.status for t in tasks} == {Status.COMPLETED}


async def test_a_claim_whose_answer_was_lost_is_recovered_while_the_worker_runs(
    queue: Queue,
) -> None:
    """The claim committed (the task is owned by the worker) but the worker never learnt
    of it: the heartbeat must not keep that lease alive, so the task is recovered and run
    without restarting the worker. (It stayed ``running``/owned forever before.)"""
    task_id = await submit(queue)
    flaky = FailingWrites(queue.driver, "claim", times=1, after=True)
    async with worker_on(flaky, lease_s=0.6, concurrency=1, prefetch=0):
        task = await until_terminal(queue, task_id, timeout_s=15)
    assert flaky.failed == 1
    assert task.status is Status.COMPLETED
    # the lost claim started the task (an idle runner's claim starts it): that attempt
    # counts as lost, the recovered one completes
    assert task.attempts == 2
    assert "worker lost" in task.errors[0].error
