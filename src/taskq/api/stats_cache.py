"""At most one computation per second of an answer many clients poll.

``GET /stats`` and ``GET /queues`` count every task by status (by queue): a scan of an
index as long as the table. A dashboard polls them every second, and several may be open:
each API process computes each answer at most once per ``ttl_s`` and hands the same one to
every caller in between, so their cost does not grow with the number of clients. Callers
that arrive while it is being computed wait for that computation rather than start another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

TTL_S = 1.0


class Cached(Generic[T]):
    """The answer of ``compute``, computed again once ``ttl_s`` has passed since the last
    one (by ``clock``, monotonic seconds). ``computed`` counts the computations."""

    def __init__(
        self,
        compute: Callable[[], Awaitable[T]],
        *,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.compute = compute
        self.ttl_s = ttl_s
        self.clock = clock
        self.computed = 0
        self._value: T | None = None
        self._expires_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        """The cached answer while it is fresh, else a new one."""
        async with self._lock:
            if self._value is None or self.clock() >= self._expires_at:
                value = await self.compute()
                # fresh from when it was computed, not from when it was asked for
                self._value, self._expires_at = value, self.clock() + self.ttl_s
                self.computed += 1
            return self._value
