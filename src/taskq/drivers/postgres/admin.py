"""The PostgreSQL driver's bulk actions and the figures of GET /queues and /stats, each a
function of its connection pool."""

from __future__ import annotations

from collections.abc import Sequence

from taskq.drivers import rows
from taskq.drivers.postgres.connection import Connections
from taskq.drivers.statements import load
from taskq.filters import BulkResult, TaskFilter
from taskq.stats import Percentiles, QueueList, WindowStats

SQL = load("taskq.drivers.postgres")


async def bulk(
    db: Connections,
    statement: str,
    applies: str,
    task_filter: TaskFilter,
    *,
    limit: int,
    now: float | None,
) -> BulkResult:
    """One bulk statement: how many it changed, and whether more were left."""
    where, args = rows.filter_clause(SQL, task_filter)
    query = SQL[statement].format(where=f"{where} AND {SQL[applies]}")
    row = await db.fetchone(query, {**args, "limit": limit, "now": now})
    assert row is not None  # an aggregate always answers one row
    return BulkResult(row[0], row[1])


async def queue_stats(
    db: Connections, *, now: float, windows: Sequence[int], limit: int
) -> QueueList:
    async with db.connection() as conn, conn.transaction():
        counts = await (await conn.execute(SQL["queue_counts"])).fetchall()
        oldest = await (await conn.execute(SQL["queue_oldest_ready"], {"now": now})).fetchall()
        throughput = {
            w: await (
                await conn.execute(SQL["queue_throughput"], {"since": now - w, "now": now})
            ).fetchall()
            for w in windows
        }
    return rows.queue_list(counts, oldest, throughput, now=now, limit=limit)


async def window_stats(
    db: Connections, *, now: float, windows: Sequence[int], sample_size: int
) -> list[WindowStats]:
    found = []
    for w in windows:
        args = {"since": now - w, "now": now, "sample": sample_size}
        row = await db.fetchone(SQL["window_stats"], args)
        assert row is not None  # an aggregate always answers one row
        completed, failed, wait_s, run_s = row
        found.append(
            WindowStats(
                w,
                completed,
                failed,
                wait_s=Percentiles(*wait_s) if wait_s else Percentiles(),
                run_s=Percentiles(*run_s) if run_s else Percentiles(),
                sampled=completed + failed > sample_size,
            )
        )
    return found
