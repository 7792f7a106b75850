"""The driver contract: every driver must pass this suite, on a real database."""

from __future__ import annotations

import asyncio
import time

import pytest

from taskq.drivers.base import Driver
from taskq.queue import Queue
from taskq.task import AttemptError, NewTask, Status

LEASE_S = 30.0


@pytest.fixture
def driver(queue: Queue) -> Driver:
    return queue.driver


def new(action: str = "a", **kw: object) -> NewTask:
    return NewTask(action=action, **kw)  # type: ignore[arg-type]


def err(attempt: int, text: str = "boom") -> AttemptError:
    return AttemptError(attempt=attempt, error=text, at=time.time())


async def claim_one(driver: Driver, worker: str = "w1", now: float | None = None) -> str:
    (task,) = await driver.claim(worker, 1, queues=None, lease_s=LEASE_S, now=now or time.time())
    started = await driver.start(task.id, worker, lease_s=LEASE_S, now=time.time())
    assert started is not None
    return task.id


async def test_published_task_is_queued_and_readable(driver: Driver) -> None:
    (task,) = await driver.publish([new("uppercase", data={"text": "hé"})], now=100.0)
    got = await driver.get(task.id)
    assert got is not None
    assert got.status is Status.QUEUED
    assert got.payload == {"text": "hé"}
    assert (got.action, got.attempts, got.created_at, got.run_at) == ("uppercase", 0, 100.0, 100.0)


async def test_get_unknown_id_is_none(driver: Driver) -> None:
    assert await driver.get("00000000-0000-4000-8000-000000000000") is None


async def test_claim_takes_highest_priority_first_then_fifo(driver: Driver) -> None:
    low1, high, low2 = await driver.publish(
        [new(priority=0), new(priority=5), new(priority=0)], now=time.time()
    )
    claimed = await driver.claim("w1", 3, queues=None, lease_s=LEASE_S, now=time.time())
    assert [t.id for t in claimed] == [high.id, low1.id, low2.id]


async def test_claim_never_hands_a_task_to_two_workers(driver: Driver) -> None:
    await driver.publish([new() for _ in range(50)], now=time.time())
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
    (later,) = await driver.publish([new(run_at=now + 60)], now=now)
    assert await driver.claim("w1", 5, queues=None, lease_s=LEASE_S, now=now) == []
    (due,) = await driver.claim("w1", 5, queues=None, lease_s=LEASE_S, now=now + 61)
    assert due.id == later.id


async def test_claim_only_from_named_queues(driver: Driver) -> None:
    now = time.time()
    emails, _ = await driver.publish([new(queue="emails"), new(queue="reports")], now=now)
    claimed = await driver.claim("w1", 5, queues=["emails"], lease_s=LEASE_S, now=now)
    assert [t.id for t in claimed] == [emails.id]


async def test_start_counts_an_attempt_and_marks_running(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
    task_id = await claim_one(driver)
    task = await driver.get(task_id)
    assert task is not None
    assert task.status is Status.RUNNING
    assert task.attempts == 1
    assert task.started_at is not None


async def test_another_worker_cannot_start_or_finish_my_task(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
    (task,) = await driver.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())
    assert await driver.start(task.id, "w2", lease_s=LEASE_S, now=time.time()) is None
    assert await driver.start(task.id, "w1", lease_s=LEASE_S, now=time.time()) is not None
    assert not await driver.complete(task.id, "w2", '{"x": 1}', now=time.time())
    assert not await driver.fail(task.id, "w2", err(1), now=time.time())


async def test_complete_stores_the_json_result(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
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
    await driver.publish([new() for _ in range(4)], now=time.time())
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
    await driver.publish([new()], now=time.time())
    task_id = await claim_one(driver)
    run_at = time.time() + 30
    assert await driver.retry_later(task_id, "w1", err(1, "first"), run_at=run_at)
    task = await driver.get(task_id)
    assert task is not None
    assert (task.status, task.error, task.run_at) == (Status.QUEUED, "first", run_at)
    assert [e.error for e in task.errors] == ["first"]
    assert await driver.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time()) == []
    (again,) = await driver.claim("w2", 1, queues=None, lease_s=LEASE_S, now=run_at + 1)
    assert again.id == task_id


async def test_fail_dead_letters_with_every_attempts_error(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
    task_id = await claim_one(driver)
    await driver.retry_later(task_id, "w1", err(1, "one"), run_at=0)
    await claim_one(driver)
    assert await driver.fail(task_id, "w1", err(2, "two"), now=time.time())
    task = await driver.get(task_id)
    assert task is not None
    assert (task.status, task.attempts, task.error) == (Status.FAILED, 2, "two")
    assert [(e.attempt, e.error) for e in task.errors] == [(1, "one"), (2, "two")]


async def test_release_returns_unstarted_tasks(driver: Driver) -> None:
    await driver.publish([new(), new()], now=time.time())
    claimed = await driver.claim("w1", 2, queues=None, lease_s=LEASE_S, now=time.time())
    assert await driver.release([t.id for t in claimed], "w1") == 2
    again = await driver.claim("w2", 2, queues=None, lease_s=LEASE_S, now=time.time())
    assert {t.id for t in again} == {t.id for t in claimed}
    assert all(t.attempts == 0 for t in again)


async def test_recover_requeues_a_lapsed_running_task(driver: Driver) -> None:
    now = time.time()
    await driver.publish([new(), new()], now=now)
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
    await driver.publish([new(max_attempts=1)], now=now)
    task_id = await claim_one(driver, "dead", now=now)
    await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3)
    task = await driver.get(task_id)
    assert task is not None
    assert task.status is Status.FAILED


async def test_recover_takes_a_dead_workers_tasks_at_once(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
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
    await driver.publish([new()], now=now)
    task_id = await claim_one(driver, "w1", now=now)
    assert await driver.renew_leases("w1", [task_id], lease_s=LEASE_S, now=now + LEASE_S) == 1
    assert await driver.recover(now=now + LEASE_S + 1, default_max_attempts=3) == 0


async def test_renewing_leases_keeps_only_the_named_tasks(driver: Driver) -> None:
    """A task the worker let go of (its outcome write failed) is not kept alive by the
    heartbeat: it lapses and is recovered while the worker still runs."""
    now = time.time()
    await driver.publish([new(), new()], now=now)
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
    await driver.publish([new()], now=now)
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
    tasks = await driver.publish([new("a"), new("b"), new("a"), new("a")], now=time.time())
    listed = await driver.list_tasks(limit=10)
    assert [t.id for t in listed] == [t.id for t in reversed(tasks)]
    only_a = await driver.list_tasks(action="a", limit=2)
    assert [t.id for t in only_a] == [tasks[3].id, tasks[2].id]
    rest = await driver.list_tasks(action="a", limit=2, before_seq=only_a[-1].seq)
    assert [t.id for t in rest] == [tasks[0].id]
    assert await driver.list_tasks(status=Status.COMPLETED) == []


async def test_counts_include_every_status(driver: Driver) -> None:
    await driver.publish([new(), new()], now=time.time())
    counts = await driver.counts()
    assert counts == {s: (2 if s is Status.QUEUED else 0) for s in Status}


async def test_concurrent_publishes_are_all_committed(driver: Driver) -> None:
    results = await asyncio.gather(*(driver.publish([new()], now=time.time()) for _ in range(200)))
    assert len({r[0].id for r in results}) == 200
    assert (await driver.counts())[Status.QUEUED] == 200


async def test_publish_wakes_a_waiting_consumer(driver: Driver) -> None:
    waiter = asyncio.create_task(driver.wait_for_work(10))
    await asyncio.sleep(0)
    await driver.publish([new()], now=time.time())
    await asyncio.wait_for(waiter, 2)


async def test_ping_answers(driver: Driver) -> None:
    await driver.ping()


# lifecycle: idempotency, cancellation, re-queueing, retention


async def test_a_repeated_idempotency_key_returns_the_stored_task(driver: Driver) -> None:
    (first,) = await driver.publish([new(idempotency_key="k1", fingerprint="f")], now=1.0)
    again = new(idempotency_key="k1", fingerprint="other")
    (second,) = await driver.publish([again], now=2.0)
    assert second.id == first.id != again.id
    assert second.fingerprint == "f"
    assert (await driver.counts())[Status.QUEUED] == 1


async def test_cancel_stops_a_queued_task_at_once(driver: Driver) -> None:
    queued, prefetched = await driver.publish([new(), new()], now=time.time())
    await driver.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())  # prefetched
    for task_id in (queued.id, prefetched.id):
        task = await driver.cancel(task_id, now=time.time())
        assert task is not None
        assert task.status is Status.CANCELLED
        assert task.processed_at is not None
    assert await driver.start(prefetched.id, "w1", lease_s=LEASE_S, now=time.time()) is None
    assert await driver.claim("w2", 5, queues=None, lease_s=LEASE_S, now=time.time()) == []


async def test_cancel_asks_the_worker_of_a_running_task(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
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
    await driver.publish([new(), new()], now=now)
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
    await driver.publish([new()], now=time.time())
    task_id = await claim_one(driver)
    await driver.complete(task_id, "w1", "1", now=time.time())
    task = await driver.cancel(task_id, now=time.time())
    assert task is not None
    assert (task.status, task.cancel_requested) == (Status.COMPLETED, False)
    assert await driver.cancel("00000000-0000-4000-8000-000000000000", now=time.time()) is None


async def test_requeue_gives_a_failed_task_a_fresh_start(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
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
    (task,) = await driver.publish([new()], now=time.time())
    requeued, same = await driver.requeue(task.id, now=time.time())
    assert not requeued
    assert same is not None
    assert same.status is Status.QUEUED
    unknown = await driver.requeue("00000000-0000-4000-8000-000000000000", now=time.time())
    assert unknown == (False, None)


async def test_prune_deletes_only_old_finished_tasks(driver: Driver) -> None:
    await driver.publish([new(), new(), new()], now=time.time())
    old = await claim_one(driver)
    await driver.complete(old, "w1", "1", now=100.0)
    recent = await claim_one(driver)
    await driver.complete(recent, "w1", "1", now=time.time())
    assert await driver.prune(before=time.time() - 60, limit=10) == 1
    assert await driver.get(old) is None
    assert await driver.get(recent) is not None
    assert (await driver.counts())[Status.QUEUED] == 1


async def test_claim_can_start_the_first_tasks_in_the_same_commit(driver: Driver) -> None:
    first, second, third = await driver.publish([new(), new(), new()], now=time.time())
    claimed = await driver.claim("w1", 3, queues=None, lease_s=LEASE_S, now=time.time(), start=2)
    assert [t.id for t in claimed] == [first.id, second.id, third.id]
    assert [(t.status, t.attempts) for t in claimed] == [
        (Status.RUNNING, 1),
        (Status.RUNNING, 1),
        (Status.QUEUED, 0),
    ]
    assert all(t.started_at is not None for t in claimed[:2])
    stored = await driver.get(first.id)
    assert stored is not None
    assert (stored.status, stored.attempts) == (Status.RUNNING, 1)
    assert await driver.complete(first.id, "w1", "1", now=time.time())
    assert await driver.start(third.id, "w1", lease_s=LEASE_S, now=time.time()) == 1


async def test_claim_starts_no_more_than_it_claims(driver: Driver) -> None:
    await driver.publish([new()], now=time.time())
    claimed = await driver.claim(
        "w1", 1, queues=["default"], lease_s=LEASE_S, now=time.time(), start=5
    )
    assert [t.status for t in claimed] == [Status.RUNNING]
