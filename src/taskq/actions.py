"""Actions: what a task's ``action`` name runs. The seed's demo actions, plus user ones.

A user action is a plain function (sync or async) taking the task's ``data`` dict and
returning something JSON can hold::

    import taskq

    @taskq.action("resize", max_attempts=5, timeout=30)
    def resize(data: dict) -> dict: ...

The decorator only marks the function; ``Actions.load`` finds marked functions in the
modules named by ``--actions``, so importing a module registers nothing globally.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, TypeVar

Handler = Callable[[dict[str, Any]], Any]
F = TypeVar("F", bound=Handler)

MARK = "__taskq_action__"


class Fail(Exception):
    """Raise from a handler to fail the task now, without retrying."""


class Retry(Exception):
    """Raise from a handler to retry the task, optionally ``after`` this many seconds."""

    def __init__(self, reason: str = "retry requested", *, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


Backoff = float | Callable[[int], float]
"""Seconds before retry: a base for exponential backoff, or a function of the attempt number."""


class StopFlag:
    """Set when a running attempt is told to stop; its handler reads it (a sync one from its
    thread). A plain attribute, not a ``threading.Event``: nothing waits on it, and an Event
    (a lock and a condition) takes about 2 µs to make, once per task."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set


_stop_flag: contextvars.ContextVar[StopFlag | None] = contextvars.ContextVar(
    "taskq_stop_flag", default=None
)


def is_cancelled() -> bool:
    """True once the running task was cancelled or timed out: a long sync handler polls this.

    An async handler is cancelled outright (``asyncio.CancelledError`` at its next await).
    """
    flag = _stop_flag.get()
    return flag is not None and flag.is_set()


@dataclass(frozen=True)
class Action:
    """A named handler and its per-action defaults."""

    name: str
    handler: Handler
    max_attempts: int | None = None
    timeout_s: float | None = None
    backoff: Backoff | None = None
    cron: str | None = None

    @functools.cached_property  # asked for every task a worker starts
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)


def action(
    name: str,
    *,
    max_attempts: int | None = None,
    timeout: float | None = None,
    backoff: Backoff | None = None,
    cron: str | None = None,
) -> Callable[[F], F]:
    """Mark a function as the handler of action ``name`` (loaded with ``--actions``).

    ``timeout`` is seconds per attempt; ``backoff`` seconds (a base, doubled each attempt)
    or a function of the attempt number; ``cron`` a schedule on which the service enqueues
    this action by itself (with empty data), once per tick across all processes.
    """
    if not name or len(name) > 200:
        raise ValueError("an action name is 1 to 200 characters")
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be a positive number of seconds")
    if cron is not None:
        # imported only where a schedule is checked: every handler module imports this
        # one, and most never name a schedule
        from croniter import croniter

        if not croniter.is_valid(cron):
            raise ValueError(f"invalid cron expression {cron!r}")

    def mark(fn: F) -> F:
        found = Action(
            name, fn, max_attempts=max_attempts, timeout_s=timeout, backoff=backoff, cron=cron
        )
        setattr(fn, MARK, found)
        return fn

    return mark


def demo_actions(delay_s: float) -> tuple[list[Action], Action]:
    """The seed's actions, each after ``delay_s`` of simulated work, and the catch-all."""

    async def simulate() -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)

    async def uppercase(data: dict[str, Any]) -> dict[str, Any]:
        await simulate()
        text = data.get("text") or ""
        if not isinstance(text, str):
            raise Fail("uppercase: data.text must be a string")
        return {"output": text.upper()}

    async def sum_(data: dict[str, Any]) -> dict[str, Any]:
        await simulate()
        numbers = data.get("numbers") or []
        if not isinstance(numbers, list) or not all(
            isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
        ):
            raise Fail("sum: data.numbers must be a list of numbers")
        return {"output": sum(numbers)}

    async def processed(data: dict[str, Any]) -> dict[str, Any]:
        await simulate()
        return {"output": "processed"}

    return [Action("uppercase", uppercase), Action("sum", sum_)], Action("*", processed)


def actions_in(module: ModuleType) -> list[Action]:
    """The actions a module marks with ``@taskq.action``."""
    return [
        a for a in (getattr(v, MARK, None) for v in vars(module).values()) if isinstance(a, Action)
    ]


class ActionsError(Exception):
    """An ``--actions`` module could not be loaded."""


class Actions:
    """The actions a worker runs by name; unknown names go to the catch-all."""

    def __init__(self, actions: Iterable[Action], fallback: Action) -> None:
        self._by_name = {a.name: a for a in actions}
        self.fallback = fallback

    @classmethod
    def load(cls, modules: Iterable[str] = (), *, demo_delay_ms: int = 100) -> Actions:
        """The demo actions, then every action in ``modules`` (a user's may replace a demo's)."""
        demo, fallback = demo_actions(demo_delay_ms / 1000)
        found = list(demo)
        for name in modules:
            try:
                module = importlib.import_module(name)
            except Exception as exc:
                raise ActionsError(f"cannot import actions module {name!r}: {exc}") from exc
            marked = actions_in(module)
            if not marked:
                raise ActionsError(f"actions module {name!r} has no @taskq.action functions")
            found.extend(marked)
        return cls(found, fallback)

    def resolve(self, name: str) -> Action:
        return self._by_name.get(name, self.fallback)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    @property
    def scheduled(self) -> list[Action]:
        """Actions with a cron schedule."""
        return [a for a in self._by_name.values() if a.cron]

    def with_schedules(self, schedules: dict[str, str]) -> Actions:
        """These actions, with cron schedules from settings (action name → expression)."""
        from croniter import croniter  # see action()

        updated = dict(self._by_name)
        for name, cron in schedules.items():
            if not croniter.is_valid(cron):
                raise ActionsError(f"invalid cron expression for {name!r}: {cron!r}")
            base = self._by_name.get(name, Action(name, self.fallback.handler))
            updated[name] = replace(base, cron=cron)
        return Actions(updated.values(), self.fallback)


def start(
    action: Action, data: dict[str, Any], stop_flag: StopFlag, threads: Executor
) -> asyncio.Future[Any]:
    """Start a handler, async ones on the loop and sync ones in ``threads``.

    ``stop_flag`` is what ``is_cancelled()`` reads inside the handler.
    """
    token = _stop_flag.set(stop_flag)
    try:
        if action.is_async:
            return asyncio.ensure_future(action.handler(data))  # copies the context
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(threads, context.run, action.handler, data)
    finally:
        _stop_flag.reset(token)
