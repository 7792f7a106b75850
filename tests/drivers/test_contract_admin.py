"""The driver contract for the admin verbs: filtered listings, deleting a finished task,
and the bulk actions (retry, cancel, delete) over a filter. Every driver must pass it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from tests.support.wakeups import wakes

from taskq.drivers.base import Driver
from taskq.filters import EVERY_TASK, TaskFilter
from taskq.queue import Queue
from taskq.task import AttemptError, NewTask, Status, Task

LEASE_S = 30.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


@pytest.fixture(params=["same driver", "another driver"])
async def writer(
    request: pytest.FixtureRequest, driver: Driver, database_url: str
) -> AsyncIterator[Driver]:
    """Who writes what a waiting ``driver`` must wake up for (see test_contract.py)."""
    if request.param == "same driver":
        yield driver
        return
    async with Queue.connect(database_url) as other:
        yield other.driver


def new(action: str = "a", **kw: object) -> NewTask:
    return NewTask(action=action, **kw)  # type: ignore[arg-type]


async def run(driver: Driver, task: Task, outcome: Status, error: str = "boom") -> None:
    """Take ``task`` through a worker to ``outcome``: running, completed or failed."""
    (claimed,) = await driver.claim("w", 1, queues=None, lease_s=LEASE_S, now=time.time())
    assert claimed.id == task.id, "run tasks in the order they were enqueued"
    assert await driver.start(task.id, "w", lease_s=LEASE_S, now=time.time()) == 1
    if outcome is Status.COMPLETED:
        assert await driver.complete(task.id, "w", "{}", now=time.time())
    elif outcome is Status.FAILED:
        assert await driver.fail(task.id, "w", AttemptError(1, error, time.time()), now=time.time())


async def ids(driver: Driver, task_filter: TaskFilter, **kw: int) -> list[str]:
    return [t.id for t in await driver.list_tasks(task_filter, **kw)]


async def statuses(driver: Driver) -> dict[str, Status]:
    return {t.id: t.status for t in await driver.list_tasks(limit=1000)}


# filters


async def test_each_filter_alone_selects_its_tasks_newest_first(driver: Driver) -> None:
    a1, b1 = await driver.enqueue([new("a", queue="q1"), new("b", queue="q2")], now=100.0)
    (a2,) = await driver.enqueue([new("a", queue="q3")], now=200.0)
    (c1,) = await driver.enqueue([new("c", queue="q1")], now=300.0)
    await driver.cancel(b1.id, now=time.time())

    assert await ids(driver, EVERY_TASK) == [c1.id, a2.id, b1.id, a1.id]
    assert await ids(driver, TaskFilter(actions=("a",))) == [a2.id, a1.id]
    assert await ids(driver, TaskFilter(actions=("a", "c"))) == [c1.id, a2.id, a1.id]
    assert await ids(driver, TaskFilter(queues=("q1",))) == [c1.id, a1.id]
    assert await ids(driver, TaskFilter(queues=("q2", "q3"))) == [a2.id, b1.id]
    assert await ids(driver, TaskFilter(statuses=(Status.CANCELLED,))) == [b1.id]
    both = TaskFilter(statuses=(Status.CANCELLED, Status.QUEUED))
    assert await ids(driver, both) == [c1.id, a2.id, b1.id, a1.id]
    assert await ids(driver, TaskFilter(statuses=(Status.FAILED,))) == []
    assert await ids(driver, TaskFilter(created_after=200.0)) == [c1.id, a2.id], "inclusive"
    assert await ids(driver, TaskFilter(created_before=200.0)) == [b1.id, a1.id], "exclusive"
    window = TaskFilter(created_after=150.0, created_before=250.0)
    assert await ids(driver, window) == [a2.id]


async def test_filters_combine_and_page_together(driver: Driver) -> None:
    tasks = await driver.enqueue([new("a", queue=f"q{i % 2}") for i in range(7)], now=100.0)
    wanted = [t.id for t in reversed(tasks) if t.queue == "q0"]  # 4 of them, newest first
    only = TaskFilter(actions=("a", "z"), queues=("q0",), statuses=(Status.QUEUED,))
    first = await driver.list_tasks(only, limit=3)
    rest = await driver.list_tasks(only, limit=3, before_seq=first[-1].seq)
    assert [t.id for t in first + rest] == wanted
    assert await ids(driver, TaskFilter(actions=("b",), queues=("q0",))) == []


async def test_the_error_search_ignores_case_and_takes_wildcards_literally(
    driver: Driver,
) -> None:
    errors = ["Disk 100% full", "disk 1000 full", "no_such_user", "noXsuchYuser", "a\\b"]
    tasks = await driver.enqueue([new() for _ in errors], now=100.0)
    for task, text in zip(tasks, errors, strict=True):
        await run(driver, task, Status.FAILED, text)
    by_error = {t.id: text for t, text in zip(tasks, errors, strict=True)}

    async def found(text: str) -> set[str]:
        return {by_error[i] for i in await ids(driver, TaskFilter(error_contains=text))}

    assert await found("DISK") == {"Disk 100% full", "disk 1000 full"}
    assert await found("0% f") == {"Disk 100% full"}, "% is a percent sign"
    assert await found("no_such") == {"no_such_user"}, "_ is an underscore"
    assert await found("a\\b") == {"a\\b"}
    assert await found("nothing like it") == set()
    (queued,) = await driver.enqueue([new()], now=200.0)
    assert queued.id not in await ids(driver, TaskFilter(error_contains="o")), "no error"


async def test_the_id_filter_selects_those_tasks_alone_or_with_others(driver: Driver) -> None:
    a, b, c = await driver.enqueue([new("a"), new("b"), new("a")], now=100.0)
    assert await ids(driver, TaskFilter(ids=(b.id,))) == [b.id]
    assert await ids(driver, TaskFilter(ids=(a.id, c.id, a.id))) == [c.id, a.id]
    assert await ids(driver, TaskFilter(ids=(a.id, b.id), actions=("b",))) == [b.id]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert await ids(driver, TaskFilter(ids=(unknown,))) == []
    assert await ids(driver, TaskFilter(ids=(unknown, b.id))) == [b.id]


async def test_bulk_actions_by_ids_change_only_those_tasks(driver: Driver) -> None:
    q1, q2, q3 = await driver.enqueue([new(), new(), new()], now=time.time())
    picked = TaskFilter(ids=(q1.id, q3.id))
    done = await driver.cancel_matching(picked, limit=10, now=time.time())
    assert (done.changed, done.more) == (2, False)
    assert await statuses(driver) == {
        q1.id: Status.CANCELLED,
        q2.id: Status.QUEUED,
        q3.id: Status.CANCELLED,
    }
    one = TaskFilter(ids=(q3.id,))
    assert (await driver.retry_matching(one, limit=10, now=time.time())).changed == 1
    assert (await driver.delete_matching(TaskFilter(ids=(q1.id, q2.id)), limit=10)).changed == 1
    assert await statuses(driver) == {q2.id: Status.QUEUED, q3.id: Status.QUEUED}


# delete


async def test_delete_removes_a_finished_task(driver: Driver) -> None:
    done, failed = await driver.enqueue([new(), new()], now=time.time())
    await run(driver, done, Status.COMPLETED)
    await run(driver, failed, Status.FAILED)
    deleted, task = await driver.delete(done.id)
    assert deleted
    assert task is not None
    assert (task.id, task.status) == (done.id, Status.COMPLETED)
    assert await driver.get(done.id) is None
    assert (await driver.delete(failed.id))[0]
    assert await driver.delete(done.id) == (False, None), "gone"


async def test_delete_leaves_queued_and_running_tasks(driver: Driver) -> None:
    running, queued = await driver.enqueue([new(), new()], now=time.time())
    await run(driver, running, Status.RUNNING)
    for task, status in ((running, Status.RUNNING), (queued, Status.QUEUED)):
        deleted, found = await driver.delete(task.id)
        assert not deleted
        assert found is not None
        assert found.status is status
    assert await driver.delete("not-a-uuid") == (False, None)


async def test_deleting_a_task_frees_its_idempotency_key(driver: Driver) -> None:
    (task,) = await driver.enqueue([new(idempotency_key="k")], now=time.time())
    await driver.cancel(task.id, now=time.time())
    assert (await driver.delete(task.id))[0]
    (again,) = await driver.enqueue([new(idempotency_key="k")], now=time.time())
    assert again.id != task.id


# bulk actions


async def test_bulk_retry_requeues_matching_failed_and_cancelled_tasks_up_to_its_limit(
    driver: Driver,
) -> None:
    tasks = await driver.enqueue([new("a"), new("a"), new("b"), new("a"), new("a")], now=1.0)
    f1, f2, other, done, c1 = tasks
    for task in (f1, f2, other):
        await run(driver, task, Status.FAILED)
    await run(driver, done, Status.COMPLETED)
    await driver.cancel(c1.id, now=time.time())
    only_a = TaskFilter(actions=("a",))

    first = await driver.retry_matching(only_a, limit=2, now=time.time())
    assert (first.changed, first.more) == (2, True)
    after = await statuses(driver)
    assert (after[c1.id], after[f2.id], after[f1.id]) == (
        Status.QUEUED,
        Status.QUEUED,
        Status.FAILED,
    )
    assert (after[other.id], after[done.id]) == (Status.FAILED, Status.COMPLETED)
    second = await driver.retry_matching(only_a, limit=2, now=time.time())
    assert (second.changed, second.more) == (1, False)
    retried = await driver.get(f1.id)
    assert retried is not None
    assert (retried.status, retried.attempts, retried.processed_at) == (Status.QUEUED, 0, None)
    nothing = await driver.retry_matching(only_a, limit=2, now=time.time())
    assert (nothing.changed, nothing.more) == (0, False)


async def test_bulk_retry_wakes_a_waiting_consumer(driver: Driver, writer: Driver) -> None:
    (task,) = await writer.enqueue([new()], now=time.time())
    await writer.cancel(task.id, now=time.time())
    everything = TaskFilter(statuses=(Status.CANCELLED,))
    done = await wakes(driver, lambda: writer.retry_matching(everything, limit=10, now=time.time()))
    assert done.changed == 1


async def test_bulk_cancel_cancels_queued_tasks_and_stops_running_ones(driver: Driver) -> None:
    running, done, q1, q2, elsewhere = await driver.enqueue(
        [new(), new(), new(), new(), new(queue="other")], now=time.time()
    )
    await run(driver, running, Status.RUNNING)
    await run(driver, done, Status.COMPLETED)
    default = TaskFilter(queues=("default",))

    first = await driver.cancel_matching(default, limit=2, now=time.time())
    assert (first.changed, first.more) == (2, True)
    second = await driver.cancel_matching(default, limit=2, now=time.time())
    assert (second.changed, second.more) == (1, False)
    after = {t.id: t for t in await driver.list_tasks(limit=100)}
    assert after[q1.id].status is after[q2.id].status is Status.CANCELLED
    assert after[q1.id].processed_at is not None
    assert after[running.id].status is Status.RUNNING
    assert after[running.id].cancel_requested
    assert await driver.cancel_requests("w") == [running.id]
    assert (after[done.id].status, after[elsewhere.id].status) == (Status.COMPLETED, Status.QUEUED)
    again = await driver.cancel_matching(default, limit=2, now=time.time())
    assert (again.changed, again.more) == (0, False), "a running task is asked once"


async def test_bulk_delete_deletes_only_matching_finished_tasks(driver: Driver) -> None:
    old = await driver.enqueue([new(), new(), new()], now=100.0)
    (young,) = await driver.enqueue([new()], now=300.0)
    for task in (*old, young):
        await run(driver, task, Status.COMPLETED)
    (queued,) = await driver.enqueue([new()], now=100.0)
    before_200 = TaskFilter(created_before=200.0)

    first = await driver.delete_matching(before_200, limit=2)
    assert (first.changed, first.more) == (2, True)
    second = await driver.delete_matching(before_200, limit=2)
    assert (second.changed, second.more) == (1, False)
    assert set(await statuses(driver)) == {young.id, queued.id}
