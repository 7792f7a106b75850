"""The PostgreSQL driver's verbs on the queues table (taskq/flow.py), each a function of
its connection pool. The claim itself reads the table: see ``claim`` in statements.sql."""

from __future__ import annotations

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
            "now": now,
        },
    )
    if row is None:  # an upsert always returns its row
        raise StoreUnavailable("the queue's settings were not stored")
    return rows.row_to_queue(row)


async def settings(db: Connections) -> dict[str, QueueSettings]:
    return {row[0]: rows.row_to_queue(row) for row in await db.fetchall(QUEUE_SETTINGS)}
