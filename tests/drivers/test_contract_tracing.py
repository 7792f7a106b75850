"""The driver contract for a task's trace context: stored as given, NULL when none, read
back by every read and by the claim, kept across retries."""

from __future__ import annotations

import time

from taskq.drivers.base import Driver
from taskq.filters import TaskFilter
from taskq.queue import Queue
from taskq.task import AttemptError, NewTask

LEASE_S = 30.0
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
WITH_STATE = f"{TRACEPARENT}\ncongo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


async def test_trace_context_is_stored_as_given_and_null_without(queue: Queue) -> None:
    driver: Driver = queue.driver
    traced, untraced, stated = await driver.enqueue(
        [
            NewTask(action="a", trace_context=TRACEPARENT),
            NewTask(action="a"),
            NewTask(action="a", trace_context=WITH_STATE),
        ],
        now=time.time(),
    )
    assert (traced.trace_context, untraced.trace_context, stated.trace_context) == (
        TRACEPARENT,
        None,
        WITH_STATE,
    )
    for task in (traced, untraced, stated):
        got = await driver.get(task.id)
        assert got is not None
        assert got.trace_context == task.trace_context
    listed = await driver.list_tasks(TaskFilter(ids=(traced.id, stated.id)), limit=10)
    assert {t.trace_context for t in listed} == {TRACEPARENT, WITH_STATE}


async def test_the_claim_hands_over_the_trace_context_and_a_retry_keeps_it(
    queue: Queue,
) -> None:
    driver: Driver = queue.driver
    (task,) = await driver.enqueue([NewTask(action="a", trace_context=WITH_STATE)], now=time.time())
    (claimed,) = await driver.claim("w1", 1, queues=None, lease_s=LEASE_S, now=time.time())
    assert claimed.trace_context == WITH_STATE
    assert await driver.start(task.id, "w1", lease_s=LEASE_S, now=time.time()) == 1
    error = AttemptError(attempt=1, error="boom", at=time.time())
    assert await driver.retry_later(task.id, "w1", error, run_at=time.time())
    (again,) = await driver.claim("w2", 1, queues=None, lease_s=LEASE_S, now=time.time() + 1)
    assert (again.trace_context, again.errors[0].error) == (WITH_STATE, "boom")


async def test_an_idempotent_repeat_answers_the_first_trace_context(queue: Queue) -> None:
    first = NewTask(action="a", idempotency_key="k", trace_context=TRACEPARENT)
    (stored,) = await queue.enqueue_many([first])
    (again,) = await queue.enqueue_many(
        [NewTask(action="a", idempotency_key="k", trace_context=WITH_STATE)]
    )
    assert again.id == stored.id
    assert again.trace_context == TRACEPARENT
