"""The retry policy: after a failed attempt, when the task runs again, or whether it fails.

Pure functions of the task, its action and the worker's defaults: what a task sets wins
over its action, and its action over the worker.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from taskq.actions import Action, Fail, Retry
from taskq.task import Task


@dataclass(frozen=True)
class RetryDefaults:
    """The worker's settings, for what neither the task nor its action sets."""

    max_attempts: int = 3
    backoff_base_s: float = 1.0


def backoff_s(attempt: int, *, base_s: float = 1.0, max_s: float = 300.0) -> float:
    """Exponential backoff with jitter: base·2^(attempt-1), capped, times a random 0.5 to 1."""
    ceiling = min(base_s * 2.0 ** (attempt - 1), max_s)
    return ceiling * random.uniform(0.5, 1.0)


def max_attempts(task: Task, action: Action, defaults: RetryDefaults) -> int:
    """How many attempts ``task`` gets: its own bound, else its action's, else the worker's."""
    return task.max_attempts or action.max_attempts or defaults.max_attempts


def retry_delay_s(attempt: int, action: Action, defaults: RetryDefaults) -> float:
    """The wait after failed attempt number ``attempt``: the action's backoff (a function of
    the attempt, or a base to double), else the worker's base."""
    if callable(action.backoff):
        return float(action.backoff(attempt))
    base_s = defaults.backoff_base_s if action.backoff is None else action.backoff
    return backoff_s(attempt, base_s=base_s)


def retry_in_s(
    task: Task, action: Action, defaults: RetryDefaults, outcome: BaseException
) -> float | None:
    """Seconds until ``task`` runs again after its attempt ended in ``outcome``; None: fail it.

    ``Fail`` fails at once; anything else is retried while attempts are left, after
    ``Retry(after=…)`` if the handler chose, else after the backoff.
    """
    if isinstance(outcome, Fail) or task.attempts >= max_attempts(task, action, defaults):
        return None
    if isinstance(outcome, Retry) and outcome.after is not None:
        return outcome.after
    return retry_delay_s(task.attempts, action, defaults)
