"""How a worker's bookkeeping commits on PostgreSQL: asynchronously, unless told otherwise.

Claims, starts, results, retries and lease renewals are the writes a worker makes for
every task; waiting for each one's WAL flush (an fsync) cost more than the write, and
their fsyncs queued beside the producers' on the same disk. With ``"async"`` (the
default) each of them commits at once and the server's WAL writer flushes it within a few
hundred milliseconds (PostgreSQL's asynchronous commit, set for that transaction alone by
the ``worker_commit`` CTE of statements.sql). What a crash of the server itself can undo
is the same as on SQLite with ``--sqlite-worker-sync-ms``: a task's last steps, so it runs
again; never an accepted task, whose enqueue always waits for the disk. ``"sync"`` keeps
the server's own setting for every commit.
"""

from __future__ import annotations

from typing import Literal

from taskq.drivers.statements import load

SQL = load("taskq.drivers.postgres")
WorkerCommit = Literal["async", "sync"]
WORKER_COMMIT = SQL["worker_commit"].strip()


def bookkeeping(name: str, **fill: str) -> str:
    """Statement ``name``, which starts with the ``worker_commit`` CTE (takes ``lazy``)."""
    return SQL[name].format(worker_commit=WORKER_COMMIT, **fill)


START_MANY = bookkeeping("start_many")
COMPLETE_MANY = bookkeeping("complete_many")
RETRY_LATER = bookkeeping("retry_later")
FINISH = bookkeeping("finish")
RENEW = bookkeeping("renew")
