"""The PostgreSQL driver's verbs on the queues table (taskq/flow.py), each a function of
its connection pool, and its choice of claim statement (``HeldBack``). The claim itself
reads the table: see ``claim`` in statements.sql."""

from __future__ import annotations

import time
from typing import Literal

from taskq.drivers import rows
from taskq.drivers.postgres.connection import Connections
from taskq.drivers.rows import QUEUE_COLUMNS
from taskq.drivers.statements import load
from taskq.errors import StoreUnavailable
from taskq.flow import KEEP, Keep, QueueSettings, Rate

SQL = load("taskq.drivers.postgres")
UPDATE_QUEUE = SQL["update_queue"].format(queue_columns=QUEUE_COLUMNS)
QUEUE_SETTINGS = SQL["queue_settings"].format(queue_columns=QUEUE_COLUMNS)


async def update(
    db: Connections,
    name: str,
    *,
    paused: bool | None,
    concurrency: int | Literal[Keep.KEEP] | None,
    rate: Rate | Literal[Keep.KEEP] | None,
    key_concurrency: int | Literal[Keep.KEEP] | None,
    now: float,
) -> QueueSettings:
    given = None if rate is KEEP else rate
    row = await db.fetchone(
        UPDATE_QUEUE,
        {
            "name": name,
            "paused": paused,
            "keep_concurrency": concurrency is KEEP,
            "concurrency": None if concurrency is KEEP else concurrency,
            "keep_rate": rate is KEEP,
            "rate_limit": None if given is None else given.limit,
            "rate_period_s": None if given is None else given.per_s,
            "keep_key_concurrency": key_concurrency is KEEP,
            "key_concurrency": None if key_concurrency is KEEP else key_concurrency,
            "now": now,
        },
    )
    if row is None:  # an upsert always returns its row
        raise StoreUnavailable("the queue's settings were not stored")
    return rows.row_to_queue(row)


async def settings(db: Connections) -> dict[str, QueueSettings]:
    return {row[0]: rows.row_to_queue(row) for row in await db.fetchall(QUEUE_SETTINGS)}


class HeldBack:
    """Whether some queue may be paused or limited, so that a claim needs ``claim`` (with
    flow control) rather than ``claim_plain`` (smaller: 11% less time per claim on a store
    with no settings, see benchmarks/claim_flow.py).

    Never a risk to the rules: ``claim_plain`` checks in its own snapshot that no queue is
    held back and takes nothing otherwise, and an empty plain claim asks (``check``) before
    it is believed. Once a queue was seen held back, claims use ``claim`` for
    ``recheck_s``; then one plain claim tries again (taking nothing if a queue is still
    held back: one small statement a second).
    """

    def __init__(self, db: Connections, *, recheck_s: float = 1.0) -> None:
        self._db = db
        self.recheck_s = recheck_s
        self._seen = False
        self._checked_at = float("-inf")

    def maybe(self) -> bool:
        """Whether to claim with flow control: some queue was held back at a check less
        than ``recheck_s`` ago (after that, a plain claim tries, and its check decides)."""
        return self._seen and time.monotonic() - self._checked_at < self.recheck_s

    async def check(self) -> bool:
        """Read whether some queue is held back now, and remember it."""
        row = await self._db.fetchone(SQL["any_held_back"])
        self._seen = bool(row and row[0])
        self._checked_at = time.monotonic()
        return self._seen
