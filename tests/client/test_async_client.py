"""``taskq.AsyncClient``: the same verbs, awaited, against a real `taskq run`."""

from __future__ import annotations

import pytest
from tests.system.procs import TaskqProcess

import taskq
from taskq.task import Status

pytestmark = pytest.mark.system


async def test_the_async_client_submits_waits_lists_cancels_and_raises(
    service: TaskqProcess,
) -> None:
    async with taskq.AsyncClient(service.url) as client:
        accepted = await client.submit("uppercase", {"text": "hi"})
        done = await client.wait(accepted.id, timeout=30)
        failed = await client.wait((await client.submit("sum", {"numbers": ["a"]})).id, 30)
        later = [(await client.submit("noop", {"n": n}, delay=3600)).id for n in range(5)]
        cancelled = await client.cancel(later[0])
        listed = [task.id async for task in client.list(action="noop", page_size=2)]
        again = await client.retry(failed.id)
        with pytest.raises(taskq.NotFound) as not_found:
            await client.get("00000000-0000-4000-8000-000000000000")
        with pytest.raises(taskq.WaitTimeout) as timed_out:
            await client.wait(later[1], timeout=0.5)

    assert (done.status, done.result) == (Status.COMPLETED, {"output": "HI"})
    assert (failed.status, failed.error) == (
        Status.FAILED,
        "sum: data.numbers must be a list of numbers",
    )
    assert cancelled.status is Status.CANCELLED
    assert listed == later[::-1]
    assert again.status is Status.QUEUED
    assert not_found.value.error == "task not found"
    assert timed_out.value.task.status is Status.QUEUED


async def test_async_stats_and_queues(service: TaskqProcess) -> None:
    async with taskq.AsyncClient(service.url) as client:
        await client.wait((await client.submit("uppercase", {"text": "x"})).id, timeout=30)
        stats = await client.stats()
        queues = await client.queues()

    assert stats.counts.completed == 1
    assert [q.name for q in queues.queues] == ["default"]
