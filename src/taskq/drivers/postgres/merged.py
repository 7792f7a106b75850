"""The PostgreSQL writes merged across callers: every enqueue, start or completion waiting
for the same round goes in one statement, its batch travelling as one JSON array (see
drivers/coalescer.py for the rounds)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import msgspec
import psycopg

from taskq import codec
from taskq.drivers.coalescer import Round, Waiting
from taskq.drivers.postgres.connection import Connections, one_line
from taskq.drivers.postgres.worker_commit import COMPLETE_MANY, START_MANY
from taskq.drivers.statements import load
from taskq.errors import InvalidTask, StoreUnavailable
from taskq.task import NewTask

SQL = load("taskq.drivers.postgres")
ENQUEUE_KEYED = SQL["enqueue"].format(on_conflict=SQL["on_key_conflict"].strip())
ENQUEUE_UNIQUE = SQL["enqueue"].format(on_conflict=SQL["on_any_conflict"].strip())


def enqueue_statement(batch: list[Row]) -> str:
    """The enqueue statement for ``batch``: the cheaper one unless it holds a unique key."""
    return ENQUEUE_UNIQUE if any(r.unique_key is not None for r in batch) else ENQUEUE_KEYED


class Row(msgspec.Struct, omit_defaults=True):
    """One task as the ``enqueue`` statement reads it from the batch's JSON (a field left
    out, as an untraced task's trace_context is, reads as NULL)."""

    id: str
    action: str
    payload: msgspec.Raw | dict[str, Any]
    queue: str
    priority: int
    max_attempts: int | None
    timeout_s: float | None
    run_at: float
    created_at: float
    idempotency_key: str | None
    fingerprint: str | None
    trace_context: str | None = None
    unique_key: str | None = None
    concurrency_key: str | None = None


def enqueue_row(task: NewTask, now: float) -> Row:
    """The Row of ``task``, enqueued at ``now``."""
    return Row(
        id=task.id,
        action=task.action,
        payload=task.data if task.data_json is None else msgspec.Raw(task.data_json),
        queue=task.queue,
        priority=task.priority,
        max_attempts=task.max_attempts,
        timeout_s=task.timeout_s,
        run_at=now if task.run_at is None else task.run_at,
        created_at=now,
        idempotency_key=task.idempotency_key,
        fingerprint=task.fingerprint,
        trace_context=task.trace_context,
        unique_key=task.unique_key,
        concurrency_key=task.concurrency_key,
    )


class Start(msgspec.Struct):
    """One prefetched task to start, as ``start_many`` reads it."""

    id: str
    worker: str
    at: float
    lease: float


class Complete(msgspec.Struct):
    """One result to record, as ``complete_many`` reads it."""

    id: str
    worker: str
    result: msgspec.Raw
    at: float


class Merged:
    """The merged writes of one driver, on its connections."""

    def __init__(self, db: Connections, *, lazy: bool) -> None:
        self._db = db
        self._lazy = lazy  # worker_commit.py

    async def write_round(self, batch: Round) -> None:
        """One statement per kind of write in the round, side by side on the pool."""
        if len(batch.kinds) == 1:
            # the usual round (one caller's enqueue, or one worker's starts): gather would
            # wrap the statement in a task of its own, which each sequential enqueue paid for
            ((kind, waiting),) = batch.kinds.items()
            await self._write_kind(kind, waiting)
            return
        await asyncio.gather(*(self._write_kind(kind, w) for kind, w in batch.kinds.items()))

    async def _write_kind(self, kind: Hashable, waiting: Waiting) -> None:
        write: Callable[[list[Any]], Awaitable[list[Any]]] = kind  # type: ignore[assignment]
        try:
            waiting.settle(await write(waiting.items))
        except InvalidTask as exc:
            if len(waiting.items) == 1:
                waiting.fail(exc)
                return
            # one unstorable item must not fail its neighbours: each alone
            await asyncio.gather(
                *(self._write_kind(kind, Waiting([i], [f])) for i, f in _pairs(waiting))
            )
        except Exception as exc:  # handed to every waiting caller
            waiting.fail(exc if isinstance(exc, StoreUnavailable) else _unavailable(exc))

    async def enqueue(self, enqueues: list[tuple[list[Row], float]]) -> list[list[int | None]]:
        """Insert every waiting enqueue in one statement: per enqueue, each row's seq
        (None where it was skipped: a key taken, or its id stored already)."""
        batch = [r for enqueue, _ in enqueues for r in enqueue]
        now = max(now for _, now in enqueues)
        async with self._db.connection() as conn:
            try:
                cur = await conn.execute(
                    enqueue_statement(batch), {"rows": codec.encode(batch), "now": now}
                )
                seq_of = {row[0]: row[1] for row in await cur.fetchall()}
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                # e.g. a NUL character, which PostgreSQL text and JSONB cannot hold
                raise InvalidTask(f"PostgreSQL cannot store this task: {one_line(exc)}") from exc
        return [[seq_of.get(r.id) for r in enqueue] for enqueue, _ in enqueues]

    async def start(self, starts: list[Start]) -> list[int | None]:
        """Per start, the attempt's number, or None when the task is no longer the worker's."""
        args = {"rows": codec.encode(starts), "lazy": self._lazy}
        found = await self._db.fetchall(START_MANY, args)
        attempts: dict[str, int] = dict(found)
        return [attempts.get(s.id) for s in starts]

    async def complete(self, completions: list[Complete]) -> list[bool]:
        """Per completion, whether the task was still the worker's (so was recorded)."""
        args = {"rows": codec.encode(completions), "lazy": self._lazy}
        found = await self._db.fetchall(COMPLETE_MANY, args)
        done = {task_id for (task_id,) in found}
        return [c.id in done for c in completions]


def _pairs(waiting: Waiting) -> list[tuple[Any, asyncio.Future[Any]]]:
    return list(zip(waiting.items, waiting.futures, strict=True))


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"write failed: {one_line(exc)}")
