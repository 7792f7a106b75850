"""Flow control: a queue's settings (paused, concurrency) and the rules that check them.

Settings live in the store (migration 0006, a ``queues`` table): a row per queue ever
paused or limited; a queue without one runs with the defaults (not paused, no limit).
Every driver's ``claim`` reads them in the write that claims, so every worker on every
host obeys a change at its next claim:

* **paused**: the queue's tasks are not claimed (neither started nor prefetched); tasks
  already running finish, and a task prefetched before the pause may still start (at
  most ``--prefetch`` per worker).
* **concurrency**: at most that many of the queue's tasks are ``running`` at once, across
  all workers. A limited queue's tasks are only claimed to start at once (for an idle
  runner), never prefetched, so the count of running tasks is the whole count; a task
  prefetched before the limit was set may still start.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

from taskq.errors import InvalidTask
from taskq.task import INT32_MAX, MAX_QUEUE_LENGTH


class Keep(enum.Enum):
    """A setting left as it is (``update_queue(name, concurrency=KEEP)``)."""

    KEEP = "keep"


KEEP: Literal[Keep.KEEP] = Keep.KEEP


class QueueSettings(msgspec.Struct, frozen=True, gc=False):
    """One queue's flow control; ``concurrency`` None: unlimited."""

    name: str
    paused: bool = False
    concurrency: int | None = None
    updated_at: float | None = None  # None: never set (the defaults)


def check_queue_name(name: str, *, field: str = "queue") -> None:
    """Raise InvalidTask unless ``name`` could be a task's queue."""
    if not name or len(name) > MAX_QUEUE_LENGTH:
        raise InvalidTask(f"queue must be 1 to {MAX_QUEUE_LENGTH} characters", field=field)
    if "\x00" in name:
        raise InvalidTask("queue must not contain NUL characters", field=field)


def check_concurrency(concurrency: int | None, *, field: str = "concurrency") -> None:
    """Raise InvalidTask unless ``concurrency`` is None (unlimited) or 1 and more."""
    if concurrency is None:
        return
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise InvalidTask("concurrency must be an integer or null", field=field)
    if not 1 <= concurrency <= INT32_MAX:
        raise InvalidTask(f"concurrency must be between 1 and {INT32_MAX}", field=field)


def updated(
    current: QueueSettings,
    *,
    paused: bool | None,
    concurrency: int | Literal[Keep.KEEP] | None,
    now: float,
) -> QueueSettings:
    """``current`` with the settings given changed (None / KEEP: left as they are)."""
    return QueueSettings(
        name=current.name,
        paused=current.paused if paused is None else paused,
        concurrency=current.concurrency if concurrency is KEEP else concurrency,
        updated_at=now,
    )
