"""Group commit, shared by the drivers: writes asked for while one round is being written
wait for the next round, and go together.

N concurrent enqueues (or task starts, or completions) then cost one transaction and one
statement per kind, not N. Each caller still returns only once its own write is done, with
its own outcome. A driver says how a round is written (``flush``): SQLite runs a round in
one transaction on its writer thread; PostgreSQL runs one statement per kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from taskq.errors import InvalidTask, StoreUnavailable


@dataclass
class Waiting:
    """The callers waiting for one kind of write in a round: their items, in order."""

    items: list[Any] = field(default_factory=list)
    futures: list[asyncio.Future[Any]] = field(default_factory=list)

    def settle(self, outcomes: list[Any]) -> None:
        """Hand each caller its outcome (one per item, in order)."""
        for future, outcome in zip(self.futures, outcomes, strict=True):
            if not future.done():  # a caller that stopped waiting: the write happened anyway
                future.set_result(outcome)

    def fail(self, error: BaseException) -> None:
        """Hand every caller the error, each its own copy (an exception keeps a traceback)."""
        for future in self.futures:
            if not future.done():
                future.set_exception(_copy(error))


@dataclass
class Round:
    """One round of writes: the waiting callers by kind. ``first`` tells a round that
    started from idle (nothing was being written) from one that queued behind another."""

    kinds: dict[Hashable, Waiting]
    first: bool

    @property
    def size(self) -> int:
        return sum(len(w.items) for w in self.kinds.values())


Flush = Callable[[Round], Awaitable[None]]


class Coalescer:
    """Collects writes into rounds and hands each round to ``flush``, one at a time.

    ``flush`` must settle or fail every waiting caller of the round; one it leaves
    unsettled (it raised, or was cancelled) is failed with StoreUnavailable.
    """

    def __init__(self, flush: Flush) -> None:
        self._flush = flush
        self._pending: dict[Hashable, Waiting] = {}
        self._running: asyncio.Task[None] | None = None

    async def submit(self, kind: Hashable, item: Any) -> Any:
        """Add ``item`` to the next round's writes of ``kind``; its outcome once written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        waiting = self._pending.get(kind)
        if waiting is None:
            waiting = self._pending[kind] = Waiting()
        waiting.items.append(item)
        waiting.futures.append(future)
        if self._running is None:
            self._running = loop.create_task(self._drain())
        return await future

    @property
    def is_idle(self) -> bool:
        return self._running is None

    async def wait_idle(self) -> None:
        """Return once every write asked for so far is done."""
        if self._running is not None:
            await asyncio.shield(self._running)

    async def _drain(self) -> None:
        first = True
        batch = Round({}, first)
        try:
            while self._pending:
                batch = Round(self._pending, first)
                self._pending, first = {}, False
                try:
                    await self._flush(batch)
                except Exception as exc:  # handed to every caller the flush left waiting
                    for waiting in batch.kinds.values():
                        waiting.fail(exc)
        finally:
            # interrupted (the loop is closing): nobody may wait forever
            for waiting in [*batch.kinds.values(), *self._pending.values()]:
                waiting.fail(StoreUnavailable("write interrupted, outcome unknown"))
            self._running = None


def _copy(error: BaseException) -> BaseException:
    """The same error for another caller: taskq's own errors rebuilt, others as they are."""
    if isinstance(error, InvalidTask):
        return InvalidTask(str(error), field=error.field)
    if isinstance(error, StoreUnavailable):
        return StoreUnavailable(str(error))
    return error
