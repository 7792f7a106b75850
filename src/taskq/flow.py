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
* **rate**: at most ``limit`` of the queue's tasks start in any ``per_s`` seconds (a
  sliding window), across all workers. Each start is recorded (a ``queue_starts`` row, in
  the claim that starts it); a claim counts the starts after ``now - per_s`` (later ones
  too: a claim whose ``now`` was taken before another's commit still sees it). Like a
  concurrency, a rated queue's tasks are never prefetched.
* **key_concurrency**: at most that many (1 when not set) of the queue's tasks holding one
  ``concurrency_key`` run at once, across all workers. Keyed tasks are claimed only to
  start, never prefetched; a claim skips the keys at their limit, so one busy key never
  holds back the others' tasks behind it.
"""

from __future__ import annotations

import enum
import re
from typing import Literal

import msgspec

from taskq.errors import InvalidTask
from taskq.task import INT32_MAX, MAX_QUEUE_LENGTH


class Keep(enum.Enum):
    """A setting left as it is (``update_queue(name, concurrency=KEEP)``)."""

    KEEP = "keep"


KEEP: Literal[Keep.KEEP] = Keep.KEEP


MAX_RATE_LIMIT = 1_000_000
MAX_RATE_PERIOD_S = 86_400.0
MIN_RATE_PERIOD_S = 0.001
# how long a start is kept beyond its window: a claim whose ``now`` was taken before a
# slow wait for the store (a lock) still finds the starts it must count
STARTS_KEPT_EXTRA_S = 60.0
_UNITS_S = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86_400.0}
_RATE = re.compile(r"\s*([0-9]{1,7})\s*/\s*([0-9]{1,6}(?:\.[0-9]{1,6})?)?\s*(s|min|h|d)\s*")


class Rate(msgspec.Struct, frozen=True, gc=False):
    """At most ``limit`` starts in any ``per_s`` seconds: written ``100/s``, ``10/min``,
    ``5/10s``, ``1000/h``, ``20/d``."""

    limit: int
    per_s: float

    @classmethod
    def parse(cls, text: str, *, field: str = "rate_limit") -> Rate:
        """The rate ``text`` writes; InvalidTask, naming ``field``, unless it is one."""
        found = _RATE.fullmatch(text) if isinstance(text, str) else None
        if found is None:
            raise InvalidTask(
                f"{field} must be N/UNIT (100/s, 10/min, 5/10s, 1000/h, 20/d), or null",
                field=field,
            )
        count, many, unit = found.groups()
        rate = cls(int(count), float(many or 1) * _UNITS_S[unit])
        check_rate(rate, field=field)
        return rate

    def __str__(self) -> str:
        for unit, unit_s in sorted(_UNITS_S.items(), key=lambda u: -u[1]):
            many = self.per_s / unit_s
            if many >= 1 and many == int(many):
                return f"{self.limit}/{'' if many == 1 else int(many)}{unit}"
        return f"{self.limit}/{self.per_s:g}s"


def check_rate(rate: Rate | None, *, field: str = "rate_limit") -> None:
    """Raise InvalidTask unless ``rate`` is None (unlimited) or one a store keeps."""
    if rate is None:
        return
    if not 1 <= rate.limit <= MAX_RATE_LIMIT:
        raise InvalidTask(f"{field} must allow 1 to {MAX_RATE_LIMIT:,} starts", field=field)
    if not MIN_RATE_PERIOD_S <= rate.per_s <= MAX_RATE_PERIOD_S:
        raise InvalidTask(f"{field} must be per 1 ms to 1 day", field=field)


class QueueSettings(msgspec.Struct, frozen=True, gc=False):
    """One queue's flow control; ``concurrency`` and ``rate`` None: unlimited."""

    name: str
    paused: bool = False
    concurrency: int | None = None
    updated_at: float | None = None  # None: never set (the defaults)
    rate: Rate | None = None
    key_concurrency: int | None = None  # None: 1

    @property
    def per_key(self) -> int:
        """How many of its tasks holding one concurrency key may run at once."""
        return 1 if self.key_concurrency is None else self.key_concurrency

    @property
    def holds_back(self) -> bool:
        """Whether its tasks are claimed only through flow control: paused, or limited."""
        return self.paused or self.is_limited

    @property
    def is_limited(self) -> bool:
        """A concurrency or a rate: its tasks are claimed only to start, up to its room."""
        return self.concurrency is not None or self.rate is not None


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
    rate: Rate | Literal[Keep.KEEP] | None = KEEP,
    key_concurrency: int | Literal[Keep.KEEP] | None = KEEP,
    now: float,
) -> QueueSettings:
    """``current`` with the settings given changed (None / KEEP: left as they are)."""
    return QueueSettings(
        name=current.name,
        paused=current.paused if paused is None else paused,
        concurrency=current.concurrency if concurrency is KEEP else concurrency,
        updated_at=now,
        rate=current.rate if rate is KEEP else rate,
        key_concurrency=current.key_concurrency if key_concurrency is KEEP else key_concurrency,
    )


def room(settings: QueueSettings, *, running: int | None, starts: int | None) -> int:
    """How many more of a limited queue's tasks may start now: what its concurrency (less
    its ``running`` tasks) and its rate (less the ``starts`` in its window) leave."""
    left = []
    if settings.concurrency is not None:
        left.append(settings.concurrency - (running or 0))
    if settings.rate is not None:
        left.append(settings.rate.limit - (starts or 0))
    return min(left, default=0)
