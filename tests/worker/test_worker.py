"""The consumer loop against a real database: outcomes, retries, bounds and shutdown."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest
from tests.support.waiting import until, until_terminal
from tests.support.worker import actions, is_waiting_for_work, running

from taskq.actions import Action, Fail, Retry
from taskq.errors import InvalidTask
from taskq.queue import Queue
from taskq.task import NewTask, Status
from taskq.worker import LOCAL_KEY, Worker


async def test_an_exception_is_retried_then_dead_lettered(queue: Queue) -> None:
    calls = 0

    async def flaky(data: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise ValueError(f"bad {calls}")

    async with running(queue, actions(Action("flaky", flaky)), max_attempts=3):
        task = await until_terminal(queue, (await queue.enqueue("flaky")).id)
    assert task.status is Status.FAILED
    assert task.attempts == calls == 3
    assert task.error == "ValueError: bad 3"
    assert [e.error for e in task.errors] == [
        "ValueError: bad 1",
        "ValueError: bad 2",
        "ValueError: bad 3",
    ]
    assert task.errors[0].traceback is not None
    assert "raise ValueError" in task.errors[0].traceback


async def test_a_task_that_succeeds_on_retry_completes(queue: Queue) -> None:
    calls = 0

    def sometimes(data: dict[str, Any]) -> str:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise ConnectionError("flaky network")
        return "ok"

    async with running(queue, actions(Action("sometimes", sometimes))):
        task = await until_terminal(queue, (await queue.enqueue("sometimes")).id)
    assert (task.status, task.result, task.attempts) == (Status.COMPLETED, "ok", 2)
    assert task.error is None
    assert [e.error for e in task.errors] == ["ConnectionError: flaky network"]


async def test_fail_is_not_retried_and_retry_is(queue: Queue) -> None:
    async def give_up(data: dict[str, Any]) -> None:
        raise Fail("no such user")

    async def later(data: dict[str, Any]) -> str:
        if data.get("n", 0) == 0:
            raise Retry("not yet", after=0)
        return "done"

    acts = actions(Action("give_up", give_up), Action("later", later))
    async with running(queue, acts, max_attempts=5):
        failed = await until_terminal(queue, (await queue.enqueue("give_up")).id)
        retried = await until_terminal(queue, (await queue.enqueue("later", {"n": 0})).id)
    assert (failed.status, failed.attempts, failed.error) == (Status.FAILED, 1, "no such user")
    assert (retried.status, retried.attempts) == (Status.FAILED, 5), "Retry counts attempts"


async def test_per_task_max_attempts_overrides_the_default(queue: Queue) -> None:
    async def boom(data: dict[str, Any]) -> None:
        raise RuntimeError("x")

    async with running(queue, actions(Action("boom", boom)), max_attempts=5):
        task = await until_terminal(queue, (await queue.enqueue("boom", max_attempts=1)).id)
    assert task.attempts == 1


async def test_an_attempt_past_its_timeout_fails(queue: Queue) -> None:
    async def slow(data: dict[str, Any]) -> None:
        await asyncio.sleep(10)

    async with running(queue, actions(Action("slow", slow, timeout_s=0.05)), max_attempts=2):
        task = await until_terminal(queue, (await queue.enqueue("slow")).id)
    assert task.status is Status.FAILED
    assert task.attempts == 2
    assert task.error == "timed out after 0.05s"


async def test_a_result_json_cannot_hold_fails_the_task(queue: Queue) -> None:
    async def weird(data: dict[str, Any]) -> object:
        return object()

    async with running(queue, actions(Action("weird", weird))):
        task = await until_terminal(queue, (await queue.enqueue("weird")).id)
    assert task.status is Status.FAILED
    assert task.error is not None
    assert task.error.startswith("the result is not JSON-serialisable")


async def test_a_result_the_store_cannot_keep_fails_the_task(queue: Queue) -> None:
    async def nul(data: dict[str, Any]) -> str:
        return "a\x00b"

    async with running(queue, actions(Action("nul", nul))):
        task = await until_terminal(queue, (await queue.enqueue("nul")).id)
    assert (task.status, task.attempts) == (Status.FAILED, 1)
    assert task.error == "the result holds a NUL character (\\u0000), which cannot be stored"


async def test_sync_handlers_run_off_the_event_loop(queue: Queue) -> None:
    release = threading.Event()
    threads: set[str] = set()
    loop = asyncio.get_running_loop()
    both_blocked = asyncio.Event()

    def blocking(data: dict[str, Any]) -> str:
        threads.add(threading.current_thread().name)
        if len(threads) == 2:
            loop.call_soon_threadsafe(both_blocked.set)
        release.wait(5)
        return "done"

    async with running(queue, actions(Action("blocking", blocking)), concurrency=2):
        ids = [(await queue.enqueue("blocking")).id for _ in range(2)]
        await asyncio.wait_for(both_blocked.wait(), 5)  # both handlers block their threads ...
        # ... and the loop still serves other work
        assert (await queue.get(ids[0])) is not None
        release.set()
        for task_id in ids:
            assert (await until_terminal(queue, task_id)).status is Status.COMPLETED
    assert threading.main_thread().name not in threads


async def test_concurrency_and_prefetch_bound_the_tasks_in_hand(queue: Queue) -> None:
    active = peak = 0

    async def track(data: dict[str, Any]) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1

    peak_claimed = 0

    async def sample(worker: Worker) -> None:
        nonlocal peak_claimed
        while True:
            peak_claimed = max(peak_claimed, worker._in_hand)
            await asyncio.sleep(0.002)

    async with running(queue, actions(Action("track", track)), concurrency=3, prefetch=2) as w:
        sampler = asyncio.create_task(sample(w))
        ids = [t.id for t in await queue.enqueue_many([NewTask(action="track") for _ in range(40)])]
        for task_id in ids:
            await until_terminal(queue, task_id)
        sampler.cancel()
    assert peak == 3
    assert peak_claimed <= 3 + 2


async def test_stop_returns_unstarted_tasks_and_finishes_running_ones(queue: Queue) -> None:
    started = asyncio.Event()

    async def slow(data: dict[str, Any]) -> str:
        started.set()
        await asyncio.sleep(0.2)
        return "finished"

    worker = Worker(queue, actions(Action("slow", slow)), concurrency=1, prefetch=5)
    tasks = await queue.enqueue_many([NewTask(action="slow") for _ in range(4)])
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await asyncio.wait_for(runner, 5)
    finals = [await queue.get(t.id) for t in tasks]
    statuses = sorted(str(t.status) for t in finals if t)
    assert statuses == ["completed", "queued", "queued", "queued"]
    assert await queue.driver.held_worker_ids() == [], "nothing left claimed"


async def test_shutdown_past_the_grace_period_requeues_the_running_task(queue: Queue) -> None:
    started = asyncio.Event()

    async def stuck(data: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    worker = Worker(queue, actions(Action("stuck", stuck)), concurrency=1, grace_s=0.1)
    task = await queue.enqueue("stuck")
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    await asyncio.wait_for(runner, 5)
    final = await queue.get(task.id)
    assert final is not None
    assert final.status is Status.QUEUED
    assert final.error == "interrupted: worker shut down"


async def test_a_new_task_wakes_an_idle_worker_without_polling(queue: Queue) -> None:
    async with running(queue, actions(), poll_interval_s=30):
        await until(is_waiting_for_work, 5, what="the worker to be idle, waiting up to 30 s")
        task = await queue.enqueue("uppercase", {"text": "x"})
        done = await until_terminal(queue, task.id, timeout_s=5)
    assert done.status is Status.COMPLETED


async def test_a_dead_local_workers_tasks_are_recovered_at_start(queue: Queue) -> None:
    task = await queue.enqueue("uppercase", {"text": "x"})
    # a previous incarnation of this process (same pid, other token) held it
    ghost = f"{LOCAL_KEY}/{os.getpid()}/deadbeef/1"
    await queue.driver.claim(ghost, 1, queues=None, lease_s=3600, now=time.time())
    await queue.driver.start(task.id, ghost, lease_s=3600, now=time.time())
    async with running(queue, actions()):
        done = await until_terminal(queue, task.id)
    assert (done.status, done.attempts) == (Status.COMPLETED, 2)


@pytest.mark.parametrize("bad", [{"concurrency": 0}, {"prefetch": -1}])
async def test_worker_refuses_bad_bounds(queue: Queue, bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be at least"):
        Worker(queue, actions(), **bad)


async def test_data_json_cannot_hold_is_refused_at_enqueue(queue: Queue) -> None:
    with pytest.raises(InvalidTask, match="data is not JSON-serialisable"):
        await queue.enqueue("x", {"when": object()})
    assert (await queue.counts())[Status.QUEUED] == 0
