"""Which tasks a listing or a bulk action is about: one typed filter, pure data, no I/O.

``GET /tasks`` and the bulk actions read the same filter; every driver turns it into its
own query (the SQL drivers from named fragments, see ``drivers/rows.py``), and
``matches`` says what each of them must select.
"""

from __future__ import annotations

import msgspec

from taskq.errors import InvalidTask
from taskq.task import (
    MAX_ACTION_LENGTH,
    MAX_QUEUE_LENGTH,
    MAX_TIME,
    MIN_TIME,
    Status,
    Task,
    _is_canonical_uuid,  # the check of a task id an enqueue makes: one rule for both
)

MAX_ERROR_SEARCH = 200
# how many values one filter field may list: a filter is typed by hand or picked in a
# dashboard, and each value becomes a parameter of the query
MAX_FILTER_VALUES = 100
DEFAULT_BULK_LIMIT = 1000
MAX_BULK_LIMIT = 10_000

# ASCII letters only, as SQLite's LIKE folds them: the error search is case-insensitive
# the same way on every store
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


class TaskFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Tasks whose id is one of ``ids``, whose status is one of ``statuses``, whose queue
    is one of ``queues``, whose action is one of ``actions`` (an empty tuple: any),
    created at or after ``created_after`` and before ``created_before`` (epoch seconds),
    and whose last ``error`` contains ``error_contains`` (ASCII letters compared
    case-insensitively). ``idempotency_keys`` (whose key is one of them) is the queue's
    own: a batch's keys, looked up before it is stored; no API parameter takes it.
    Every condition given must hold; the empty filter matches every task."""

    ids: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    queues: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    created_after: float | None = None
    created_before: float | None = None
    error_contains: str | None = None
    idempotency_keys: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Whether the filter matches every task."""
        return self == EVERY_TASK

    def check(self) -> None:
        """Raise InvalidTask, naming the API's parameter, for a filter no store should run."""
        if len(self.ids) > MAX_FILTER_VALUES:
            raise InvalidTask(f"at most {MAX_FILTER_VALUES} values of id", field="id")
        for task_id in self.ids:
            if not _is_canonical_uuid(task_id):
                raise InvalidTask("id must be a UUID in its canonical form", field="id")
        for name, values, longest in (
            ("status", self.statuses, None),
            ("queue", self.queues, MAX_QUEUE_LENGTH),
            ("action", self.actions, MAX_ACTION_LENGTH),
        ):
            if len(values) > MAX_FILTER_VALUES:
                raise InvalidTask(f"at most {MAX_FILTER_VALUES} values of {name}", field=name)
            for value in values:
                if longest is not None and not 0 < len(value) <= longest:
                    raise InvalidTask(f"{name} must be 1 to {longest} characters", field=name)
                if "\x00" in value:
                    raise InvalidTask(f"{name} must not contain NUL characters", field=name)
        for name, moment in (
            ("created_after", self.created_after),
            ("created_before", self.created_before),
        ):
            if moment is not None and not MIN_TIME <= moment <= MAX_TIME:
                raise InvalidTask(f"{name} must fall between 1970 and the end of 9999", field=name)
        search = self.error_contains
        if search is not None and not 0 < len(search) <= MAX_ERROR_SEARCH:
            raise InvalidTask(f"q must be 1 to {MAX_ERROR_SEARCH} characters", field="q")
        if search is not None and "\x00" in search:
            raise InvalidTask("q must not contain NUL characters", field="q")

    def matches(self, task: Task) -> bool:
        """Whether ``task`` passes the filter: what every driver's query selects."""
        return (
            (not self.ids or task.id in self.ids)
            and (not self.statuses or task.status in self.statuses)
            and (not self.queues or task.queue in self.queues)
            and (not self.actions or task.action in self.actions)
            and (not self.idempotency_keys or task.idempotency_key in self.idempotency_keys)
            and (self.created_after is None or task.created_at >= self.created_after)
            and (self.created_before is None or task.created_at < self.created_before)
            and (
                self.error_contains is None
                or (
                    task.error is not None
                    and ascii_lower(self.error_contains) in ascii_lower(task.error)
                )
            )
        )


EVERY_TASK = TaskFilter()


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching any text that contains ``text``:
    the user's ``%`` and ``_`` stand for themselves, not for wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class BulkResult(msgspec.Struct, frozen=True):
    """What one bulk action did: how many tasks it ``changed`` (at most its limit), and
    whether ``more`` tasks it applies to are left for another call."""

    changed: int
    more: bool
