"""The retry policy alone: when a failed attempt runs again, and when the task fails."""

from __future__ import annotations

from typing import Any

import pytest

from taskq.actions import Action, Fail, Retry
from taskq.task import Status, Task
from taskq.worker.retry import RetryDefaults, backoff_s, max_attempts, retry_in_s

SAMPLES = 200


def handler(data: dict[str, Any]) -> None:
    return None


def task_after(attempts: int, *, max_attempts: int | None = None) -> Task:
    return Task(
        id="t",
        action="a",
        payload={},
        status=Status.RUNNING,
        attempts=attempts,
        max_attempts=max_attempts,
    )


def samples(attempt: int, **kw: float) -> list[float]:
    return [backoff_s(attempt, **kw) for _ in range(SAMPLES)]


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (8, 128.0), (9, 256.0)]
)
def test_backoff_doubles_with_each_attempt(attempt: int, ceiling: float) -> None:
    delays = samples(attempt)
    assert all(ceiling / 2 <= d <= ceiling for d in delays)


@pytest.mark.parametrize("attempt", [10, 20, 1000])
def test_backoff_is_capped(attempt: int) -> None:
    assert all(150.0 <= d <= 300.0 for d in samples(attempt))
    assert all(3.5 <= d <= 7.0 for d in samples(attempt, base_s=2.0, max_s=7.0))


def test_backoff_jitter_spreads_over_the_upper_half() -> None:
    delays = samples(4, base_s=10.0)  # ceiling 80
    assert min(delays) >= 40.0
    assert max(delays) <= 80.0
    # spread, not a constant: both quarters of the range are hit
    assert min(delays) < 60.0 < max(delays)


def test_retry_after_picks_the_delay() -> None:
    action = Action("a", handler, backoff=lambda n: 999.0)
    assert retry_in_s(task_after(1), action, RetryDefaults(), Retry(after=42.5)) == 42.5
    assert retry_in_s(task_after(1), action, RetryDefaults(), Retry(after=0)) == 0, "0 is a delay"


def test_retry_without_after_uses_the_backoff() -> None:
    action = Action("a", handler, backoff=lambda n: 7.0)
    assert retry_in_s(task_after(1), action, RetryDefaults(), Retry()) == 7.0


def test_retry_on_the_last_attempt_fails() -> None:
    action = Action("a", handler)
    assert retry_in_s(task_after(3), action, RetryDefaults(max_attempts=3), Retry(after=0)) is None


def test_fail_is_never_retried() -> None:
    action = Action("a", handler, max_attempts=10)
    assert retry_in_s(task_after(1), action, RetryDefaults(), Fail("no")) is None


def test_an_exception_is_retried_while_attempts_are_left() -> None:
    action = Action("a", handler, backoff=lambda n: 1.0)
    defaults = RetryDefaults(max_attempts=3)
    assert retry_in_s(task_after(2), action, defaults, ValueError()) == 1.0
    assert retry_in_s(task_after(3), action, defaults, ValueError()) is None


@pytest.mark.parametrize(
    ("per_task", "per_action", "expected"),
    [(None, None, 4), (None, 6, 6), (2, 6, 2), (2, None, 2), (8, 6, 8)],
)
def test_the_task_bound_beats_the_actions_which_beats_the_workers(
    per_task: int | None, per_action: int | None, expected: int
) -> None:
    action = Action("a", handler, max_attempts=per_action, backoff=lambda n: 0.0)
    defaults = RetryDefaults(max_attempts=4)
    task = task_after(1, max_attempts=per_task)
    assert max_attempts(task, action, defaults) == expected
    last_but_one = task_after(expected - 1, max_attempts=per_task)
    assert retry_in_s(last_but_one, action, defaults, OSError()) == 0.0
    assert (
        retry_in_s(task_after(expected, max_attempts=per_task), action, defaults, OSError()) is None
    )


def test_a_callable_backoff_gets_the_attempt_number_and_no_jitter() -> None:
    seen: list[int] = []

    def linear(attempt: int) -> float:
        seen.append(attempt)
        return 60.0 * attempt

    action = Action("a", handler, backoff=linear)
    delays = [
        retry_in_s(task_after(n), action, RetryDefaults(max_attempts=9), OSError())
        for n in (1, 2, 3)
    ]
    assert delays == [60.0, 120.0, 180.0]
    assert seen == [1, 2, 3]


def test_a_numeric_backoff_is_the_actions_base() -> None:
    action = Action("a", handler, backoff=60.0)
    defaults = RetryDefaults(max_attempts=9, backoff_base_s=1.0)
    for attempt, ceiling in [(1, 60.0), (2, 120.0)]:
        for _ in range(SAMPLES):
            delay = retry_in_s(task_after(attempt), action, defaults, OSError())
            assert delay is not None
            assert ceiling / 2 <= delay <= ceiling


def test_without_an_action_backoff_the_workers_base_is_used() -> None:
    action = Action("a", handler)
    defaults = RetryDefaults(max_attempts=9, backoff_base_s=10.0)
    for _ in range(SAMPLES):
        delay = retry_in_s(task_after(2), action, defaults, OSError())
        assert delay is not None
        assert 10.0 <= delay <= 20.0
