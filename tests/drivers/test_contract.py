"""The driver contract: every driver must pass this suite, on a real database.

Where a rule is about several processes (wake-ups, claims, idempotency keys), the others
are played by more drivers opened on the same database, as another process would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from tests.support.wakeups import drain_wakeups, waits_out, wakes

from taskq.drivers.base import Driver
from taskq.errors import SchemaMismatch
from taskq.filters import TaskFilter
from taskq.queue import Queue
from taskq.task import AttemptError, NewTask, Status, Task

LEASE_S = 30.0
NOT_A_UUID = "not-a-uuid"


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


@asynccontextmanager
async def opened(database_url: str) -> AsyncIterator[Driver]:
    """Another driver on the same database, as another process would open it."""
    async with Queue.connect(database_url) as queue:
        yield queue.driver


@asynccontextmanager
async def drivers_on(database_url: str, n: int) -> AsyncIterator[list[Driver]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(opened(database_url)) for _ in range(n)]


@pytest.fixture
async def another_driver(database_url: str) -> AsyncIterator[Driver]:
    async with opened(database_url) as other:
        yield other


@pytest.fixture(params=["same driver", "another driver"])
async def writer(
    request: pytest.FixtureRequest, driver: Driver, database_url: str
) -> AsyncIterator[Driver]:
    """Who writes what a waiting ``driver`` must wake up for: the waiter's own driver (an
    API and a worker in one process), or another on the same database (another process)."""
    if request.param == "same driver":
        yield driver
        return
    async with opened(database_url) as other:
        yield other


def new(action: str = "a", **kw: object) -> NewTask:
    return NewTask(action=action, **kw)  # type: ignore[arg-type]


def err(attempt: int, text: str = "boom") -> AttemptError:
    return AttemptError(attempt=attempt, error=text, at=time.time())


async def claim_one(driver: Driver, worker: str = "w1", now: float | None = None) -> str:
    (task,) = await driver.claim(worker, 1, queues=None, lease_s=LEASE_S, now=now or time.time())
    started = await driver.start(task.id, worker, lease_s=LEASE_S, now=time.time())
    assert started is not None
    return task.id


async def test_enqueued_task_is_queued_and_readable(driver: Driver) -> None:
    (task,) = await driver.enqueue([new("uppercase", data={"text": "hé"})], now=100.0)
    got = await driver.get(task.id)
    assert got is not None
    assert got.status is Status.QUEUED
    assert got.payload == {"text": "hé"}
    assert (got.action, got.attempts, got.created_at, got.run_at) == ("uppercase", 0, 100.0, 100.0)


async def test_get_unknown_id_is_none(driver: Driver) -> None:
    assert await driver.get("00000000-0000-4000-8000-000000000000") is None


async def test_claim_takes_highest_priority_first_then_fifo(driver: Driver) -> None:
    low1, high, low2 = await driver.enqueue(
        [new(priority=0), new(priority=5), new(priority=0)], now=time.time()
    )
    claimed = await driver.claim("w1", 3, queues=None, lease_s=LEASE_S, now=time.time())
    assert [t.id for t in claimed] == [high.id, low1.id, low2.id]


async def test_claim_never_hands_a_task_to_two_workers(driver: Driver) -> None:
    await driver.enqueue([new() for _ in range(50)], now=time.time())
    batches = await asyncio.gather(
        *(
            driver.claim(f"w{i}", 10, queues=None, lease_s=LEASE_S, now=time.time())
            for i in range(8)
        )
    )
    ids = [t.id for batch in batches for t in batch]
    assert len(ids) == 50
    assert len(set(ids)) == 50


async def test_claim_skips_tasks_not_yet_due(driver: Driver) -> None:
    now = time.time()
    (later,) = await driver.enqueue([new(run_at=now + 60)], now=now)
    assert not await driver.claim("w1", 5, queues=None, lease_s=LEASE_S, now=now)
    (due,) = await driver.claim("w1", 5, queues=None, lease_s=LEASE_S, now=now + 61)
    assert due.id == later.id


async def test_claim_only_from_named_queues(driver: Driver) -> None:
    now = time.time()
    emails, _ = await driver.enqueue([new(queue="emails"), new(queue="reports")], now=now)
    claimed = await driver.claim("w1", 5, queues=["emails"], lease_s=LEASE_S, now=now)
    assert [t.id for t in claimed] == [emails.id]


async def test_start_counts_an_attempt_and_marks_running(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver)
    task = await driver.get(task_id)
    assert task is not None
    assert task.status is Status.RUNNING
    assert task.attempts == 1
    assert task.started_at is not None


async def test_another_worker_cannot_start_or_finish_my_task(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    (task,) = await driver.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())
    assert await driver.start(task.id, "w2", lease_s=LEASE_S, now=time.time()) is None
    assert await driver.start(task.id, "w1", lease_s=LEASE_S, now=time.time()) is not None
    assert not await driver.complete(task.id, "w2", '{"x": 1}', now=time.time())
    assert not await driver.fail(task.id, "w2", err(1), now=time.time())


async def test_complete_stores_the_json_result(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver)
    assert await driver.complete(task_id, "w1", '{"output": "HI"}', now=time.time())
    task = await driver.get(task_id)
    assert task is not None
    assert task.status is Status.COMPLETED
    assert task.result == {"output": "HI"}
    assert task.processed_at is not None
    assert not await driver.complete(task_id, "w1", "{}", now=time.time()), "completes only once"


async def test_concurrent_starts_and_completes_each_get_their_own_answer(driver: Driver) -> None:
    """Drivers may merge concurrent starts (and completes) into one statement: each caller
    still learns whether its own task was its to start or finish."""
    await driver.enqueue([new() for _ in range(4)], now=time.time())
    mine = await driver.claim("w1", 3, queues=None, lease_s=LEASE_S, now=time.time())
    (theirs,) = await driver.claim("w2", 1, queues=None, lease_s=LEASE_S, now=time.time())
    first, second, third = mine
    await driver.start(third.id, "w1", lease_s=LEASE_S, now=time.time())  # already started
    starts = await asyncio.gather(
        *(driver.start(t.id, "w1", lease_s=LEASE_S, now=time.time()) for t in mine),
        driver.start(theirs.id, "w1", lease_s=LEASE_S, now=time.time()),
    )
    assert starts == [1, 1, None, None]
    done = await asyncio.gather(
        driver.complete(first.id, "w1", '"one"', now=time.time()),
        driver.complete(theirs.id, "w1", '"not mine"', now=time.time()),
        driver.complete(second.id, "w1", '"two"', now=time.time()),
    )
    assert done == [True, False, True]
    results = [await driver.get(t.id) for t in (first, second, theirs)]
    assert [(t.status, t.result) for t in results if t] == [
        (Status.COMPLETED, "one"),
        (Status.COMPLETED, "two"),
        (Status.QUEUED, None),
    ]


async def test_retry_later_requeues_with_the_error_kept(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver)
    run_at = time.time() + 30
    assert await driver.retry_later(task_id, "w1", err(1, "first"), run_at=run_at)
    task = await driver.get(task_id)
    assert task is not None
    assert (task.status, task.error, task.run_at) == (Status.QUEUED, "first", run_at)
    assert [e.error for e in task.errors] == ["first"]
    assert not await driver.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())
    (again,) = await driver.claim("w2", 1, queues=None, lease_s=LEASE_S, now=run_at + 1)
    assert again.id == task_id


async def test_fail_dead_letters_with_every_attempts_error(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver)
    await driver.retry_later(task_id, "w1", err(1, "one"), run_at=0)
    await claim_one(driver)
    assert await driver.fail(task_id, "w1", err(2, "two"), now=time.time())
    task = await driver.get(task_id)
    assert task is not None
    assert (task.status, task.attempts, task.error) == (Status.FAILED, 2, "two")
    assert [(e.attempt, e.error) for e in task.errors] == [(1, "one"), (2, "two")]


async def test_release_returns_unstarted_tasks(driver: Driver) -> None:
    await driver.enqueue([new(), new()], now=time.time())
    claimed = await driver.claim("w1", 2, queues=None, lease_s=LEASE_S, now=time.time())
    assert await driver.release([t.id for t in claimed], "w1") == 2
    again = await driver.claim("w2", 2, queues=None, lease_s=LEASE_S, now=time.time())
    assert {t.id for t in again} == {t.id for t in claimed}
    assert all(t.attempts == 0 for t in again)


async def test_recover_requeues_a_lapsed_running_task(driver: Driver) -> None:
    now = time.time()
    await driver.enqueue([new(), new()], now=now)
    running = await claim_one(driver, "dead", now=now)
    (prefetched,) = await driver.claim("dead", 1, queues=None, lease_s=LEASE_S, now=now)
    assert await driver.recover(now=now + 1, default_max_attempts=3) == 0, "leases still valid"
    assert await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3) == 2
    task = await driver.get(running)
    assert task is not None
    assert (task.status, task.attempts) == (Status.QUEUED, 1)
    assert task.error is not None
    assert "worker lost" in task.error
    claimed = await driver.claim("w2", 5, queues=None, lease_s=LEASE_S, now=now + LEASE_S + 2)
    assert {t.id for t in claimed} == {running, prefetched.id}


async def test_recover_fails_a_task_out_of_attempts(driver: Driver) -> None:
    now = time.time()
    await driver.enqueue([new(max_attempts=1)], now=now)
    task_id = await claim_one(driver, "dead", now=now)
    await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3)
    task = await driver.get(task_id)
    assert task is not None
    assert task.status is Status.FAILED


async def test_recover_takes_a_dead_workers_tasks_at_once(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver, "dead")
    assert await driver.held_worker_ids() == ["dead"]
    assert (
        await driver.recover(now=time.time(), default_max_attempts=3, dead_worker_ids=["dead"]) == 1
    )
    assert await driver.held_worker_ids() == []
    task = await driver.get(task_id)
    assert task is not None
    assert task.status is Status.QUEUED


async def test_renewed_lease_is_not_recovered(driver: Driver) -> None:
    now = time.time()
    await driver.enqueue([new()], now=now)
    task_id = await claim_one(driver, "w1", now=now)
    assert await driver.renew_leases("w1", [task_id], lease_s=LEASE_S, now=now + LEASE_S) == 1
    assert await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3) == 0


async def test_renewing_leases_keeps_only_the_named_tasks(driver: Driver) -> None:
    """A task the worker let go of (its outcome write failed) is not kept alive by the
    heartbeat: it lapses and is recovered while the worker still runs."""
    now = time.time()
    await driver.enqueue([new(), new()], now=now)
    kept = await claim_one(driver, "w1", now=now)
    let_go = await claim_one(driver, "w1", now=now)
    renewed = await driver.renew_leases("w1", [kept], lease_s=LEASE_S, now=now + LEASE_S)
    assert renewed == 1
    assert await driver.renew_leases("w2", [let_go], lease_s=LEASE_S, now=now) == 0
    assert await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3) == 1
    recovered, held = await driver.get(let_go), await driver.get(kept)
    assert recovered is not None
    assert held is not None
    assert (recovered.status, recovered.attempts) == (Status.QUEUED, 1)
    assert held.status is Status.RUNNING


async def test_a_worker_that_lost_its_lease_cannot_overwrite_the_new_owner(driver: Driver) -> None:
    now = time.time()
    await driver.enqueue([new()], now=now)
    task_id = await claim_one(driver, "slow", now=now)
    await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3)
    (task,) = await driver.claim("fresh", 1, queues=None, lease_s=LEASE_S, now=now + LEASE_S + 2)
    assert await driver.start(task.id, "fresh", lease_s=LEASE_S, now=time.time()) is not None
    assert not await driver.complete(task_id, "slow", '"stale"', now=time.time())
    assert await driver.complete(task_id, "fresh", '"fresh"', now=time.time())
    final = await driver.get(task_id)
    assert final is not None
    assert (final.result, final.attempts) == ("fresh", 2)


async def test_list_is_newest_first_with_filters_and_pages(driver: Driver) -> None:
    tasks = await driver.enqueue([new("a"), new("b"), new("a"), new("a")], now=time.time())
    listed = await driver.list_tasks(limit=10)
    assert [t.id for t in listed] == [t.id for t in reversed(tasks)]
    only_a = await driver.list_tasks(TaskFilter(actions=("a",)), limit=2)
    assert [t.id for t in only_a] == [tasks[3].id, tasks[2].id]
    rest = await driver.list_tasks(TaskFilter(actions=("a",)), limit=2, before_seq=only_a[-1].seq)
    assert [t.id for t in rest] == [tasks[0].id]
    assert await driver.list_tasks(TaskFilter(statuses=(Status.COMPLETED,))) == []


async def test_counts_include_every_status(driver: Driver) -> None:
    await driver.enqueue([new(), new()], now=time.time())
    counts = await driver.counts()
    assert counts == {s: (2 if s is Status.QUEUED else 0) for s in Status}


async def test_concurrent_enqueues_are_all_committed(driver: Driver) -> None:
    results = await asyncio.gather(*(driver.enqueue([new()], now=time.time()) for _ in range(200)))
    assert len({r[0].id for r in results}) == 200
    assert (await driver.counts())[Status.QUEUED] == 200


async def test_ping_answers(driver: Driver) -> None:
    await driver.ping()


# lifecycle: idempotency, cancellation, re-queueing, retention


async def test_a_repeated_idempotency_key_returns_the_stored_task(driver: Driver) -> None:
    (first,) = await driver.enqueue([new(idempotency_key="k1", fingerprint="f")], now=1.0)
    again = new(idempotency_key="k1", fingerprint="other")
    (second,) = await driver.enqueue([again], now=2.0)
    assert second.id == first.id != again.id
    assert second.fingerprint == "f"
    assert (await driver.counts())[Status.QUEUED] == 1


async def test_cancel_stops_a_queued_task_at_once(driver: Driver) -> None:
    queued, prefetched = await driver.enqueue([new(), new()], now=time.time())
    await driver.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())  # prefetched
    for task_id in (queued.id, prefetched.id):
        task = await driver.cancel(task_id, now=time.time())
        assert task is not None
        assert task.status is Status.CANCELLED
        assert task.processed_at is not None
    assert await driver.start(prefetched.id, "w1", lease_s=LEASE_S, now=time.time()) is None
    assert not await driver.claim("w2", 5, queues=None, lease_s=LEASE_S, now=time.time())


async def test_cancel_asks_the_worker_of_a_running_task(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver, "w1")
    task = await driver.cancel(task_id, now=time.time())
    assert task is not None
    assert (task.status, task.cancel_requested) == (Status.RUNNING, True)
    assert await driver.cancel_requests("w1") == [task_id]
    assert await driver.cancel_requests("w2") == []
    assert await driver.mark_cancelled(task_id, "w1", err(1, "cancelled"), now=time.time())
    final = await driver.get(task_id)
    assert final is not None
    assert (final.status, final.error) == (Status.CANCELLED, "cancelled")
    assert await driver.cancel_requests("w1") == []


async def test_a_cancel_requested_task_is_not_retried(driver: Driver) -> None:
    now = time.time()
    await driver.enqueue([new(), new()], now=now)
    failing = await claim_one(driver, "w1", now=now)
    lapsing = await claim_one(driver, "w1", now=now)
    await driver.cancel(failing, now=now)
    await driver.cancel(lapsing, now=now)
    assert await driver.retry_later(failing, "w1", err(1), run_at=now)
    await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3)
    for task_id in (failing, lapsing):
        task = await driver.get(task_id)
        assert task is not None
        assert task.status is Status.CANCELLED


async def test_cancel_leaves_a_finished_task_alone(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver)
    await driver.complete(task_id, "w1", "1", now=time.time())
    task = await driver.cancel(task_id, now=time.time())
    assert task is not None
    assert (task.status, task.cancel_requested) == (Status.COMPLETED, False)
    assert await driver.cancel("00000000-0000-4000-8000-000000000000", now=time.time()) is None


async def test_requeue_gives_a_failed_task_a_fresh_start(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver)
    await driver.fail(task_id, "w1", err(1, "broken"), now=time.time())
    requeued, task = await driver.requeue(task_id, now=time.time())
    assert requeued
    assert task is not None
    assert (task.status, task.attempts, task.processed_at) == (Status.QUEUED, 0, None)
    assert [e.error for e in task.errors] == ["broken"], "history kept"
    (again,) = await driver.claim("w2", 1, queues=None, lease_s=LEASE_S, now=time.time())
    assert again.id == task_id


async def test_requeue_leaves_other_states_alone(driver: Driver) -> None:
    (task,) = await driver.enqueue([new()], now=time.time())
    requeued, same = await driver.requeue(task.id, now=time.time())
    assert not requeued
    assert same is not None
    assert same.status is Status.QUEUED
    unknown = await driver.requeue("00000000-0000-4000-8000-000000000000", now=time.time())
    assert unknown == (False, None)


async def test_prune_deletes_only_old_finished_tasks(driver: Driver) -> None:
    await driver.enqueue([new(), new(), new()], now=time.time())
    old = await claim_one(driver)
    await driver.complete(old, "w1", "1", now=100.0)
    recent = await claim_one(driver)
    await driver.complete(recent, "w1", "1", now=time.time())
    assert await driver.prune(before=time.time() - 60, limit=10) == 1
    assert await driver.get(old) is None
    assert await driver.get(recent) is not None
    assert (await driver.counts())[Status.QUEUED] == 1


async def test_claim_can_start_the_first_tasks_in_the_same_commit(driver: Driver) -> None:
    first, second, third = await driver.enqueue([new(), new(), new()], now=time.time())
    claimed = await driver.claim("w1", 3, queues=None, lease_s=LEASE_S, now=time.time(), start=2)
    assert [t.id for t in claimed.started] == [first.id, second.id]
    assert [t.id for t in claimed.prefetched] == [third.id]
    assert [(t.status, t.attempts) for t in claimed] == [
        (Status.RUNNING, 1),
        (Status.RUNNING, 1),
        (Status.QUEUED, 0),
    ]
    assert all(t.started_at is not None for t in claimed.started)
    assert claimed.prefetched[0].started_at is None
    stored = await driver.get(first.id)
    assert stored is not None
    assert (stored.status, stored.attempts) == (Status.RUNNING, 1)
    assert await driver.complete(first.id, "w1", "1", now=time.time())
    assert await driver.start(third.id, "w1", lease_s=LEASE_S, now=time.time()) == 1


async def test_claim_starts_no_more_than_it_claims(driver: Driver) -> None:
    await driver.enqueue([new()], now=time.time())
    claimed = await driver.claim(
        "w1", 1, queues=["default"], lease_s=LEASE_S, now=time.time(), start=5
    )
    assert [t.status for t in claimed] == [Status.RUNNING]


async def test_a_bulk_enqueue_keeps_submission_order(driver: Driver) -> None:
    tasks = await driver.enqueue([new("x", data={"i": i}) for i in range(1000)], now=time.time())
    assert [t.seq for t in tasks] == list(range(tasks[0].seq, tasks[0].seq + 1000))
    claimed = await driver.claim("w1", 1000, queues=None, lease_s=LEASE_S, now=time.time())
    assert [t.payload["i"] for t in claimed] == list(range(1000))


async def test_ids_that_are_not_uuids_are_simply_unknown(driver: Driver) -> None:
    error = err(1, "x")
    assert await driver.get(NOT_A_UUID) is None
    assert await driver.start(NOT_A_UUID, "w1", lease_s=1, now=time.time()) is None
    assert not await driver.complete(NOT_A_UUID, "w1", "{}", now=time.time())
    assert not await driver.retry_later(NOT_A_UUID, "w1", error, run_at=time.time())
    assert not await driver.fail(NOT_A_UUID, "w1", error, now=time.time())
    assert await driver.release([NOT_A_UUID], "w1") == 0


async def lost_attempt(driver: Driver, *, lost_at: float) -> Task:
    """A task whose worker died mid-attempt, recovered at ``lost_at``."""
    await driver.enqueue([new()], now=time.time())
    task_id = await claim_one(driver, "dead")
    assert await driver.recover(now=lost_at, default_max_attempts=3) == 1
    task = await driver.get(task_id)
    assert task is not None
    return task


async def test_recover_records_the_lost_attempt(driver: Driver) -> None:
    lost_at = time.time() + 100
    got = await lost_attempt(driver, lost_at=lost_at)
    assert [(e.attempt, e.error, e.traceback) for e in got.errors] == [(1, got.error, None)]
    assert got.error is not None
    assert "worker lost" in got.error
    assert got.errors[0].at == pytest.approx(lost_at, abs=1e-3)  # exactly: the next test
    assert (got.status, got.run_at, got.processed_at) == (Status.QUEUED, lost_at, None)


async def test_recover_records_the_exact_time_of_the_lost_attempt(driver: Driver) -> None:
    lost_at = time.time() + 100
    got = await lost_attempt(driver, lost_at=lost_at)
    assert [e.at for e in got.errors] == [lost_at]


async def test_concurrent_enqueues_of_one_key_store_one_task(driver: Driver) -> None:
    """Drivers may merge concurrent enqueues into one transaction: a key repeated within
    it is still one task."""
    first, again = await asyncio.gather(
        driver.enqueue([new(idempotency_key="k")], now=time.time()),
        driver.enqueue([new(idempotency_key="k")], now=time.time()),
    )
    assert first[0].id == again[0].id
    assert first[0].seq == again[0].seq != 0
    assert (await driver.counts())[Status.QUEUED] == 1


async def test_an_unmigrated_database_is_a_schema_mismatch(fresh_database_url: str) -> None:
    driver = Queue.connect(fresh_database_url).driver
    try:
        with pytest.raises(SchemaMismatch):
            await driver.open()
    finally:
        await driver.close()


# several processes on one database


async def test_claimers_on_separate_drivers_never_share_a_task(
    driver: Driver, database_url: str
) -> None:
    await driver.enqueue([new() for _ in range(500)], now=time.time())

    async def claim_all(claimer: Driver, worker: str) -> list[str]:
        got: list[str] = []
        while batch := await claimer.claim(
            worker, 7, queues=None, lease_s=LEASE_S, now=time.time()
        ):
            got += [t.id for t in batch]
        return got

    async with drivers_on(database_url, 4) as claimers:
        claimed = await asyncio.gather(
            *(claim_all(claimer, f"w{i}") for i, claimer in enumerate(claimers))
        )
    ids = [i for got in claimed for i in got]
    assert len(ids) == 500
    assert len(set(ids)) == 500
    assert all(claimed), "every claimer got some: they ran side by side"


async def test_one_idempotency_key_stores_one_task_across_processes(
    driver: Driver, database_url: str
) -> None:
    async with drivers_on(database_url, 4) as producers:
        results = await asyncio.gather(
            *(
                producer.enqueue([new("x", idempotency_key="k1", fingerprint="f")], now=1.0)
                for producer in producers
                for _ in range(5)
            )
        )
    ids = {r[0].id for r in results}
    assert len(ids) == 1
    assert (await driver.counts())[Status.QUEUED] == 1
    (stored,) = await driver.list_tasks()
    assert stored.id in ids
    assert stored.idempotency_key == "k1"


async def test_cancel_from_another_process_reaches_the_running_worker(
    driver: Driver, another_driver: Driver
) -> None:
    api, worker = driver, another_driver
    (task,) = await api.enqueue([new()], now=time.time())
    assert await claim_one(worker, "w1") == task.id
    cancelled = await api.cancel(task.id, now=time.time())
    assert cancelled is not None
    assert (cancelled.status, cancelled.cancel_requested) == (Status.RUNNING, True)
    assert await worker.cancel_requests("w1") == [task.id]
    assert await worker.mark_cancelled(task.id, "w1", err(1, "cancelled"), now=time.time())
    final = await api.get(task.id)
    assert final is not None
    assert final.status is Status.CANCELLED


# wake-ups: every write that makes a task ready ends a wait_for_work under way, made by
# the waiter's own driver or by another on the same database


async def test_wait_for_work_times_out_without_work(driver: Driver) -> None:
    await drain_wakeups(driver)
    assert await waits_out(driver, 0.3)


async def test_enqueue_wakes_a_waiting_consumer(driver: Driver, writer: Driver) -> None:
    await wakes(driver, lambda: writer.enqueue([new()], now=time.time()))


async def test_a_future_task_wakes_no_one(driver: Driver, writer: Driver) -> None:
    await drain_wakeups(driver)
    waiting = asyncio.create_task(waits_out(driver, 0.5))
    await asyncio.sleep(0)  # one turn of the loop: the wait is under way
    await writer.enqueue([new(run_at=time.time() + 3600)], now=time.time())
    assert await waiting, "woken for a task due in an hour"


async def test_a_due_retry_wakes_a_waiting_consumer(driver: Driver, writer: Driver) -> None:
    await writer.enqueue([new()], now=time.time())
    task_id = await claim_one(writer, "w1")
    error = err(1, "interrupted")
    assert await wakes(driver, lambda: writer.retry_later(task_id, "w1", error, run_at=time.time()))


async def test_a_release_wakes_a_waiting_consumer(driver: Driver, writer: Driver) -> None:
    await writer.enqueue([new()], now=time.time())
    (task,) = await writer.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())
    assert await wakes(driver, lambda: writer.release([task.id], "w1")) == 1


async def test_recovering_a_lost_task_wakes_a_waiting_consumer(
    driver: Driver, writer: Driver
) -> None:
    now = time.time()
    await writer.enqueue([new()], now=now)
    await writer.claim("dead", 1, queues=None, lease_s=LEASE_S, now=now)
    assert await writer.recover(now=now + 1, default_max_attempts=3) == 0
    recovered = await wakes(
        driver, lambda: writer.recover(now=now + 2 * LEASE_S, default_max_attempts=3)
    )
    assert recovered == 1


async def test_requeue_wakes_a_waiting_consumer(driver: Driver, writer: Driver) -> None:
    (task,) = await writer.enqueue([new()], now=time.time())
    await writer.cancel(task.id, now=time.time())
    requeued, _ = await wakes(driver, lambda: writer.requeue(task.id, now=time.time()))
    assert requeued
    assert (await writer.requeue(task.id, now=time.time()))[0] is False, "queued already"
