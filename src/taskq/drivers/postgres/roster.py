"""The PostgreSQL driver's verbs on the workers table (taskq/roster.py), each a function
of its connection pool."""

from __future__ import annotations

from collections.abc import Sequence

from taskq.drivers import rows
from taskq.drivers.postgres.connection import Connections
from taskq.drivers.rows import WORKER_COLUMNS
from taskq.drivers.statements import load
from taskq.roster import WorkerInfo

SQL = load("taskq.drivers.postgres")
LIVE_WORKERS = SQL["live_workers"].format(worker_columns=WORKER_COLUMNS)


async def announce(db: Connections, worker: WorkerInfo) -> None:
    await db.rowcount(SQL["announce"], rows.worker_args(worker))


async def beat(db: Connections, worker_id: str, now: float) -> bool:
    """One statement: forget the workers no longer live, move this one's ``last_seen``."""
    return bool(await db.fetchall(SQL["beat"], {"id": worker_id, "now": now}))


async def retire(db: Connections, worker_id: str) -> None:
    await db.rowcount(SQL["retire"], (worker_id,))


async def live_workers(db: Connections, now: float) -> list[WorkerInfo]:
    """The live workers, and what each runs."""
    found = await db.fetchall(LIVE_WORKERS, {"now": now})
    running = await db.fetchall(SQL["running_tasks"]) if found else []
    return rows.live_workers(found, running)


async def last_ticks(db: Connections, actions: Sequence[str]) -> dict[str, float]:
    """One probe of taskq_tasks_cron_ticks per action."""
    newest = []
    for action in dict.fromkeys(actions):
        row = await db.fetchone(SQL["last_tick"], rows.tick_args(action))
        newest.append((action, None if row is None else row[0]))
    return rows.last_ticks(newest)
