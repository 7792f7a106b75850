"""The server driver: tasks in PostgreSQL, for many workers on many machines.

SQLite serialises every write through one process; PostgreSQL lets any number of
workers, on any hosts, share one queue. What makes that safe and quick:

* ``claim`` locks its batch with ``FOR UPDATE SKIP LOCKED``: concurrent claimers never
  wait on each other and never get the same task.
* Workers sleep on ``LISTEN`` (drivers/wakeups.py): every write that makes work ready
  notifies in its own statement, so idle workers everywhere wake when it commits.
* Connections come from a pool (connection.py), so a task costs statements, not
  connection set-ups.
* Group commit (drivers/coalescer.py): the enqueues, starts and completions that
  concurrent callers ask for while a round is being written go together in the next
  round, one statement per kind. A ``NOTIFY`` takes a database-wide lock at commit, and
  each statement is a round trip and a commit: per task, they would cap the drain.
* A worker's bookkeeping commits asynchronously (worker_commit.py): it does not wait for
  its WAL flush, which the producers' durable commits then have to themselves.

Every write that returns has committed; an enqueue's has reached the disk
(``synchronous_commit`` permitting).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import msgspec
import psycopg

from taskq import codec
from taskq.drivers import rows
from taskq.drivers.coalescer import Coalescer
from taskq.drivers.postgres import admin, flow, in_transaction, keys, metrics, roster
from taskq.drivers.postgres.connection import Connections, as_uuid, one_line
from taskq.drivers.postgres.merged import Complete, Merged, Start, enqueue_row
from taskq.drivers.postgres.worker_commit import (
    FINISH,
    RENEW,
    RETRY_LATER,
    WorkerCommit,
    bookkeeping,
)
from taskq.drivers.rows import COLUMNS, LEASE_LOST, row_to_task
from taskq.drivers.statements import load
from taskq.drivers.wakeups import Listen
from taskq.errors import SchemaMismatch, StoreUnavailable
from taskq.events import Deliver
from taskq.filters import EVERY_TASK, BulkResult, TaskFilter
from taskq.flow import KEEP, Keep, QueueSettings, Rate
from taskq.keys import StoredKey
from taskq.metrics import Finished, Submitted
from taskq.roster import WorkerInfo
from taskq.stats import QueueList, WindowStats
from taskq.task import AttemptError, Claimed, NewTask, Status, Task

SQL = load("taskq.drivers.postgres")
T_COLUMNS = ", ".join(f"t.{column.strip()}" for column in COLUMNS.split(","))
GET = SQL["get"].format(columns=COLUMNS)
DELETE = SQL["delete"].format(columns=COLUMNS)
GET_BY_KEYS = SQL["get_by_keys"].format(columns=COLUMNS)
GET_BY_UNIQUE_KEYS = SQL["get_by_unique_keys"].format(columns=COLUMNS)
REQUEUE = SQL["requeue"].format(columns=COLUMNS, retryable=SQL["retryable"])
READY = ("ready_any_queue", "ready_in_queue", "ready_in_queues")
CLAIM = {
    ready: bookkeeping(
        "claim",
        ready=SQL[ready].format(held_back=SQL["held_back_left_out"].strip()).strip(),
        only=SQL[ready.replace("ready_", "only_", 1)].strip(),
        only_tasks=SQL[ready.replace("ready_", "only_tasks_", 1)].strip(),
        t_columns=T_COLUMNS,
    )
    for ready in READY
}
CLAIM_PLAIN = {
    ready: bookkeeping(
        "claim_plain",
        ready=SQL[ready].format(held_back=SQL["none_held_back"].strip()).strip(),
        t_columns=T_COLUMNS,
    )
    for ready in READY
}
MAX_SEQ = 2**63 - 1
# An enqueue of at least this many tasks is a batch already: it skips the group commit.
GROUP_COMMIT_MAX_TASKS = 64


class PostgresDriver:
    """Tasks in one PostgreSQL database, shared by any number of processes and hosts.

    ``min_size``/``max_size`` bound the connection pool (plus one listening connection per
    driver); see ``Connections`` for ``acquire_timeout_s`` and ``check_connections``.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout_s: float = 5.0,
        check_connections: bool = False,
        group_commit: bool = True,
        worker_commit: WorkerCommit = "async",
    ) -> None:
        self.url = url
        self.group_commit = group_commit
        self._lazy = worker_commit == "async"  # worker_commit.py
        self._db = Connections(
            url,
            min_size=min_size,
            max_size=max_size,
            acquire_timeout_s=acquire_timeout_s,
            check_connections=check_connections,
        )
        self._wakeups = Listen(self._listening, self._db.where)
        self._merged = Merged(self._db, lazy=self._lazy)
        self._rounds = Coalescer(self._merged.write_round)
        self._held_back = flow.HeldBack(self._db)

    @property
    def max_size(self) -> int:
        return self._db.max_size

    # lifecycle

    async def open(self) -> None:
        # A connection of its own comes first: it fails fast with the server's own reason,
        # where a pool would retry until its timeout. It is not kept: the process listens
        # for work only once a worker starts (listen_for_work).
        try:
            await self._db.probe(SQL["ping"])
        except psycopg.errors.UndefinedTable as exc:
            raise SchemaMismatch(
                f"no taskq tables in the PostgreSQL database at {self._db.where}: "
                "run `taskq migrate` first"
            ) from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {self._db.where}: {one_line(exc)}"
            ) from exc
        await self._db.open()

    async def _listening(self) -> psycopg.AsyncConnection[Any]:
        return await self._db.listening(SQL["listen"], SQL["ping"])

    async def close(self) -> None:
        await self._rounds.wait_idle()
        await self._wakeups.stop()
        await self._db.close()

    async def listen_for_work(self) -> None:
        await self._wakeups.listen()

    async def wait_for_work(self, timeout_s: float) -> None:
        await self._wakeups.wait(timeout_s)

    # events (taskq/events.py)

    async def publish_events(self, message: bytes) -> None:
        await self._db.rowcount(SQL["publish_events"], (message.decode(),))

    async def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        def connect() -> Awaitable[psycopg.AsyncConnection[Any]]:
            return self._db.listening(SQL["listen_events"], SQL["ping"])

        try:
            conn = await connect()
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot listen for events: {one_line(exc)}") from exc
        listen = Listen(connect, self._db.where, deliver)
        listen.start(conn)
        return listen.stop

    # producers

    async def enqueue(self, tasks: Sequence[NewTask], *, now: float) -> list[Task]:
        batch = [enqueue_row(t, now) for t in tasks]
        if not batch:
            return []
        if self.group_commit and len(batch) < GROUP_COMMIT_MAX_TASKS:
            seqs: list[int | None] = await self._rounds.submit(self._merged.enqueue, (batch, now))
        else:
            (seqs,) = await self._merged.enqueue([(batch, now)])
        if any(seq is not None and r.run_at <= now for seq, r in zip(seqs, batch, strict=True)):
            self._wakeups.work_available()
        skipped = [t for seq, t in zip(seqs, tasks, strict=True) if seq is None]
        holders = iter(await self._holders(skipped) if skipped else [])
        return [
            next(holders) if seq is None else rows.enqueued(t, seq=seq, now=now)
            for seq, t in zip(seqs, tasks, strict=True)
        ]

    async def _holders(self, skipped: list[NewTask]) -> list[Task]:
        """The stored task each skipped task yields to (read after the insert committed: a
        fresh snapshot sees the key another transaction just took)."""
        keys = [t.idempotency_key for t in skipped if t.idempotency_key]
        uniques = [t.unique_key for t in skipped if t.unique_key]
        return rows.holders(
            skipped,
            await self._read_tasks(GET_BY_KEYS, keys),
            await self._read_tasks(GET_BY_UNIQUE_KEYS, uniques),
        )

    async def _read_tasks(self, statement: str, keys: list[str]) -> list[Task]:
        return [row_to_task(r) for r in await self._db.fetchall(statement, (keys,))] if keys else []

    async def enqueue_in(
        self, connection: object, tasks: Sequence[NewTask], *, now: float
    ) -> in_transaction.Uncommitted:
        conn = in_transaction.check_connection(connection)
        stored = await in_transaction.insert(conn, tasks, now)
        return in_transaction.Uncommitted(conn, stored, self._stored_ids)

    async def _stored_ids(self, task_ids: Sequence[str]) -> set[str]:
        found = await self.list_tasks(TaskFilter(ids=tuple(task_ids)), limit=len(task_ids))
        return {t.id for t in found}

    async def cancel(self, task_id: str, *, now: float) -> Task | None:
        key = as_uuid(task_id)
        if key is None:
            return None
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(SQL["cancel_queued"], (now, key))
            await conn.execute(SQL["cancel_running"], (key,))
            row = await (await conn.execute(GET, (key,))).fetchone()
        return None if row is None else row_to_task(row)

    async def requeue(self, task_id: str, *, now: float) -> tuple[bool, Task | None]:
        key = as_uuid(task_id)
        if key is None:
            return False, None
        row = await self._db.fetchone(REQUEUE, (now, key))
        if row is not None:
            self._wakeups.work_available()
            return True, row_to_task(row)
        return False, await self.get(key)

    async def delete(self, task_id: str) -> tuple[bool, Task | None]:
        key = as_uuid(task_id)
        if key is None:
            return False, None
        row = await self._db.fetchone(DELETE, (key,))
        if row is not None:
            return True, row_to_task(row)
        return False, await self.get(key)

    async def retry_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        result = await admin.bulk(
            self._db, "requeue_matching", "retryable", task_filter, limit=limit, now=now
        )
        if result.changed:
            self._wakeups.work_available()
        return result

    async def cancel_matching(
        self, task_filter: TaskFilter, *, limit: int, now: float
    ) -> BulkResult:
        return await admin.bulk(
            self._db, "cancel_matching", "cancellable", task_filter, limit=limit, now=now
        )

    async def delete_matching(self, task_filter: TaskFilter, *, limit: int) -> BulkResult:
        return await admin.bulk(
            self._db, "delete_matching", "deletable", task_filter, limit=limit, now=None
        )

    async def prune(self, *, before: float, limit: int) -> int:
        return await self._db.rowcount(SQL["prune"], (before, limit))

    # readers

    async def get(self, task_id: str) -> Task | None:
        key = as_uuid(task_id)
        if key is None:
            return None
        row = await self._db.fetchone(GET, (key,))
        return None if row is None else row_to_task(row)

    async def list_tasks(
        self,
        task_filter: TaskFilter = EVERY_TASK,
        *,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        before = None if before_seq is None else min(before_seq, MAX_SEQ)
        where, args = rows.filter_clause(SQL, task_filter, before_seq=before)
        query = SQL["list"].format(columns=COLUMNS, where=where)
        return [row_to_task(r) for r in await self._db.fetchall(query, {**args, "limit": limit})]

    async def counts(self) -> dict[Status, int]:
        return rows.counts(await self._db.fetchall(SQL["counts"]))

    async def queue_stats(self, *, now: float, windows: Sequence[int], limit: int) -> QueueList:
        return await admin.queue_stats(self._db, now=now, windows=windows, limit=limit)

    async def window_stats(
        self, *, now: float, windows: Sequence[int], sample_size: int
    ) -> list[WindowStats]:
        return await admin.window_stats(self._db, now=now, windows=windows, sample_size=sample_size)

    async def finished_between(self, *, after: float, until: float) -> list[Finished]:
        return await metrics.finished_between(self._db, after=after, until=until)

    async def submitted_after(self, *, after_seq: int, until: float) -> Submitted:
        return await metrics.submitted_after(self._db, after_seq=after_seq, until=until)

    async def seq_before(self, at: float) -> int:
        return await metrics.seq_before(self._db, at)

    async def ping(self) -> None:
        await self._db.fetchall(SQL["ping"])

    # workers

    async def claim(
        self,
        worker_id: str,
        n: int,
        *,
        queues: Sequence[str] | None,
        lease_s: float,
        now: float,
        start: int = 0,
    ) -> Claimed:
        if n < 1:
            return Claimed([], [])
        query, args = rows.claim_statement(
            CLAIM,
            worker_id=worker_id,
            n=n,
            queues=queues,
            lease_s=lease_s,
            now=now,
            start=start,
        )
        args["lazy"] = self._lazy
        if not self._held_back.maybe():
            found = await self._db.fetchall(CLAIM_PLAIN[rows.ready_variant(queues)], args)
            if found or not await self._held_back.check():
                return rows.claimed(found)
        return rows.claimed(await self._db.fetchall(query, args))

    async def start(
        self, task_id: str, worker_id: str, *, lease_s: float, now: float
    ) -> int | None:
        key = as_uuid(task_id)
        if key is None:
            return None
        attempt: int | None = await self._rounds.submit(
            self._merged.start, Start(key, worker_id, now, now + lease_s)
        )
        return attempt

    async def complete(self, task_id: str, worker_id: str, result_json: str, *, now: float) -> bool:
        key = as_uuid(task_id)
        if key is None:
            return False
        completed: bool = await self._rounds.submit(
            self._merged.complete, Complete(key, worker_id, msgspec.Raw(result_json), now)
        )
        return completed

    async def retry_later(
        self, task_id: str, worker_id: str, error: AttemptError, *, run_at: float
    ) -> bool:
        key = as_uuid(task_id)
        if key is None:
            return False
        now = time.time()
        args = {
            **_error_args(key, worker_id, error),
            "at": error.at,
            "run_at": run_at,
            "now": now,
            "lazy": self._lazy,
        }
        found = await self._db.fetchall(RETRY_LATER, args)
        if found and found[0][0] == Status.QUEUED and run_at <= now:
            self._wakeups.work_available()
        return len(found) == 1

    async def fail(self, task_id: str, worker_id: str, error: AttemptError, *, now: float) -> bool:
        return await self._finish(Status.FAILED, task_id, worker_id, error, now=now)

    async def mark_cancelled(
        self, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        return await self._finish(Status.CANCELLED, task_id, worker_id, error, now=now)

    async def _finish(
        self, status: Status, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        key = as_uuid(task_id)
        if key is None:
            return False
        args = {
            **_error_args(key, worker_id, error),
            "now": now,
            "status": status.value,
            "lazy": self._lazy,
        }
        return await self._db.rowcount(FINISH, args) == 1

    async def cancel_requests(self, worker_id: str) -> list[str]:
        return [r[0] for r in await self._db.fetchall(SQL["cancel_requests"], (worker_id,))]

    async def release(self, task_ids: Sequence[str], worker_id: str) -> int:
        keys = [k for k in map(as_uuid, task_ids) if k is not None]
        if not keys:
            return 0
        n = await self._db.rowcount(SQL["release"], (keys, worker_id))
        if n:
            self._wakeups.work_available()
        return n

    async def renew_leases(
        self, worker_id: str, task_ids: Sequence[str], *, lease_s: float, now: float
    ) -> int:
        keys = [k for k in map(as_uuid, task_ids) if k is not None]
        if not keys:
            return 0
        args = {"lease": now + lease_s, "worker": worker_id, "ids": keys, "lazy": self._lazy}
        return await self._db.rowcount(RENEW, args)

    async def recover(
        self,
        *,
        now: float,
        default_max_attempts: int,
        dead_worker_ids: Sequence[str] = (),
    ) -> int:
        args = {
            "now": now,
            "dead": list(dead_worker_ids),
            "default": default_max_attempts,
            "error": LEASE_LOST,
        }
        async with self._db.connection() as conn, conn.transaction():
            unstarted = (await conn.execute(SQL["recover_unstarted"], args)).rowcount
            running = (await conn.execute(SQL["recover_running"], args)).rowcount
            if unstarted + running:
                await conn.execute(SQL["notify"])
        n = unstarted + running
        if n:
            self._wakeups.work_available()
        return n

    async def held_worker_ids(self) -> list[str]:
        return [r[0] for r in await self._db.fetchall(SQL["held_workers"])]

    # the workers table: postgres/roster.py

    async def announce(self, worker: WorkerInfo) -> None:
        await roster.announce(self._db, worker)

    async def beat(self, worker_id: str, *, now: float) -> bool:
        return await roster.beat(self._db, worker_id, now)

    async def retire(self, worker_id: str) -> None:
        await roster.retire(self._db, worker_id)

    async def workers(self, *, now: float) -> list[WorkerInfo]:
        return await roster.live_workers(self._db, now)

    async def last_ticks(self, actions: Sequence[str]) -> dict[str, float]:
        return await roster.last_ticks(self._db, actions)

    # API keys: postgres/keys.py

    async def create_key(self, key: StoredKey) -> bool:
        return await keys.create(self._db, key)

    async def list_keys(self) -> list[StoredKey]:
        return await keys.list_all(self._db)

    async def find_key(self, digest: str) -> StoredKey | None:
        return await keys.find(self._db, digest)

    async def has_keys(self) -> bool:
        return await keys.has_any(self._db)

    async def touch_key(self, name: str, *, now: float) -> None:
        await keys.touch(self._db, name, now)

    async def revoke_key(self, name: str) -> bool:
        return await keys.revoke(self._db, name)

    # flow control: postgres/flow.py

    async def update_queue(
        self,
        name: str,
        *,
        paused: bool | None = None,
        concurrency: int | Literal[Keep.KEEP] | None = KEEP,
        rate: Rate | Literal[Keep.KEEP] | None = KEEP,
        key_concurrency: int | Literal[Keep.KEEP] | None = KEEP,
        now: float,
    ) -> QueueSettings:
        return await flow.update(
            self._db,
            name,
            paused=paused,
            concurrency=concurrency,
            rate=rate,
            key_concurrency=key_concurrency,
            now=now,
        )

    async def queue_settings(self) -> dict[str, QueueSettings]:
        return await flow.settings(self._db)


def _error_args(task_id: str, worker_id: str, error: AttemptError) -> dict[str, Any]:
    return {
        "id": task_id,
        "worker": worker_id,
        "error": error.error,
        "error_json": codec.encode(error),
    }
