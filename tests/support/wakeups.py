"""A driver's wake-ups: an idle worker waits in ``wait_for_work``, and a write that makes a
task ready must end that wait at once, not at the worker's next poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tests.support.waiting import until

from taskq.drivers.base import Driver

T = TypeVar("T")

# far below any poll interval, far above a wake-up's real latency
WOKEN_WITHIN_S = 2.0
QUIET_S = 0.1


async def waits_out(driver: Driver, timeout_s: float) -> bool:
    """Whether ``wait_for_work(timeout_s)`` ran its whole timeout (nothing woke it)."""
    t0 = time.monotonic()
    await driver.wait_for_work(timeout_s)
    # the loop's timers may fire up to its clock resolution early
    return time.monotonic() - t0 >= timeout_s * 0.95


async def drain_wakeups(driver: Driver) -> None:
    """Consume the wake-ups earlier writes left pending, until a wait of ``QUIET_S`` goes
    unwoken: what ends the next wait is then the write under test, not one before it."""
    await until(lambda: waits_out(driver, QUIET_S), 5, what="no wake-up pending", interval_s=0)


async def wakes(driver: Driver, write: Callable[[], Awaitable[T]]) -> T:
    """``write()``'s answer, once it has ended a ``wait_for_work`` of ``driver`` that was
    under way; fails if that wait goes on ``WOKEN_WITHIN_S`` after the write."""
    await drain_wakeups(driver)
    waiting = asyncio.create_task(driver.wait_for_work(60))
    await asyncio.sleep(0)  # one turn of the loop: the wait is under way
    assert not waiting.done(), "wait_for_work returned with nothing written"
    answer = await write()
    done, _ = await asyncio.wait({waiting}, timeout=WOKEN_WITHIN_S)
    waiting.cancel()
    assert done, f"wait_for_work still waiting {WOKEN_WITHIN_S}s after the write"
    return answer
