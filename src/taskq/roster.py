"""The roster: the live workers as the store knows them, and the cron schedules they run.
Pure data, no I/O.

A worker announces itself when it starts (``Driver.announce``), beats on its heartbeat
(every ``lease_s/3``) and retires on a clean stop. It is *live* while its last beat is at
most its own ``lease_s`` old: three missed beats, the moment its tasks' leases lapse too and
lease rescue hands them on. A worker that stopped beating drops off the list then, and the
next beat of any worker deletes its row.

A schedule's ticks are tasks with the idempotency key ``cron:<action>:<tick>`` (the tick in
epoch seconds): one task per tick however many workers enqueue it. The last tick enqueued is
read back from the newest such key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec

TICK_PREFIX = "cron:"


class WorkerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One worker as it announced itself: ``queues`` None for every queue, ``schedules``
    action name → cron expression; ``running`` the ids of the tasks it runs now (filled
    when read back from the store)."""

    id: str
    host: str
    pid: int
    queues: list[str] | None
    concurrency: int
    lease_s: float
    schedules: dict[str, str]
    started_at: float
    last_seen: float
    running: list[str] = msgspec.field(default_factory=list)

    def is_live(self, now: float) -> bool:
        """Whether it beat within its ``lease_s`` before ``now``."""
        return self.last_seen + self.lease_s >= now


class Schedule(msgspec.Struct, frozen=True, gc=False):
    """A cron schedule some live worker runs: its next tick after now, and the last tick
    enqueued for its action (None if no tick task is stored)."""

    action: str
    expression: str
    next_run: float
    last_tick: float | None


def tick_key(action: str, tick: float) -> str:
    """The idempotency key of ``action``'s tick at ``tick`` (epoch seconds)."""
    return f"{TICK_PREFIX}{action}:{tick:.0f}"


def tick_of(key: str, action: str) -> float | None:
    """The tick a ``tick_key`` of ``action`` holds; None for any other key."""
    prefix = f"{TICK_PREFIX}{action}:"
    if not key.startswith(prefix):
        return None
    try:
        return float(key[len(prefix) :])
    except ValueError:
        return None


def next_tick(expression: str, after: float) -> float:
    """The first tick of cron ``expression`` strictly after ``after`` (UTC)."""
    from croniter import croniter  # only where a schedule is read: see actions.action()

    return float(croniter(expression, after).get_next(float))


def scheduled(workers: Iterable[WorkerInfo]) -> list[tuple[str, str]]:
    """Every ``(action, expression)`` the workers run, once each, sorted."""
    return sorted({pair for w in workers for pair in w.schedules.items()})


def schedules(
    pairs: Sequence[tuple[str, str]], last_ticks: Mapping[str, float], *, now: float
) -> list[Schedule]:
    """The schedules of ``pairs`` at ``now``, with the last tick of each action."""
    return [
        Schedule(action, expression, next_tick(expression, now), last_ticks.get(action))
        for action, expression in pairs
    ]
