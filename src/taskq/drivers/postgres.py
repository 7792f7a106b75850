"""The server driver: tasks in PostgreSQL, for many workers on many machines.

SQLite serialises every write through one process; PostgreSQL lets any number of
workers, on any hosts, share one queue. What makes that safe and quick:

* ``claim`` locks its batch with ``FOR UPDATE SKIP LOCKED``: concurrent claimers never
  wait on each other and never get the same task.
* Workers sleep on ``LISTEN``: every write that makes work ready (``publish``,
  ``requeue``, ``release``, ``recover``, a due ``retry_later``) sends ``NOTIFY`` in its
  own transaction, so idle workers everywhere wake when it commits, not at their next
  poll. The poll (``wait_for_work``'s timeout) only covers notifications lost while the
  listening connection was down.
* Connections come from a pool, so a task costs statements, not connection set-ups.
* Small concurrent publishes are group committed into one INSERT: a ``NOTIFY`` takes a
  database-wide lock at commit, which would otherwise serialise every enqueue.

Every write that returns has committed (``synchronous_commit`` permitting). psycopg's
errors never leave the driver: an unreachable or failing server is ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import psycopg
from psycopg import AsyncConnection, sql
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from taskq import codec
from taskq.drivers.rows import COLUMNS, row_to_task
from taskq.errors import InvalidTask, SchemaMismatch, StoreUnavailable
from taskq.task import AttemptError, NewTask, Status, Task

log = logging.getLogger(__name__)

CHANNEL = "taskq_tasks"
NOTIFY = f"NOTIFY {CHANNEL}"


def _waking(changes: str, *, due: str = "TRUE") -> str:
    """``changes`` (a write with RETURNING) made to also NOTIFY if a row it returns is
    ``due``. One statement is one transaction, so the notification is sent exactly when
    the write commits, and costs no extra round trip. Identical notifications in one
    transaction reach each listener once.
    """
    return f"""
WITH changed AS ({changes}),
    woken AS (SELECT pg_notify('{CHANNEL}', '') FROM changed WHERE {due} LIMIT 1)
SELECT changed.* FROM changed, (SELECT count(*) FROM woken) AS run_woken
"""


COLUMNS_OF_T = ", ".join(f"t.{column.strip()}" for column in COLUMNS.split(","))
# One statement for any number of tasks: the batch travels as one JSON array, which
# PostgreSQL unpacks far faster than it runs one INSERT a row. ORDER BY keeps ``seq``
# (the FIFO tie-break) in submission order. A row whose idempotency key is taken is
# skipped (and returns nothing); the caller then reads the stored task.
INSERT = """
INSERT INTO taskq_tasks (id, action, payload, queue, priority, max_attempts, timeout_s,
    run_at, created_at, idempotency_key, fingerprint)
SELECT id, action, payload, queue, priority, max_attempts, timeout_s, run_at, created_at,
    idempotency_key, fingerprint
FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (
        id uuid, action text, payload jsonb, queue text, priority integer,
        max_attempts integer, timeout_s double precision, run_at double precision,
        created_at double precision, idempotency_key text, fingerprint text))
    WITH ORDINALITY AS new (id, action, payload, queue, priority, max_attempts, timeout_s,
        run_at, created_at, idempotency_key, fingerprint, n)
ORDER BY n
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, seq, run_at
"""
# The batch's ``now`` comes last: a task due by then wakes the workers.
PUBLISH = _waking(INSERT, due="run_at <= %s")
# a separate statement: its fresh snapshot sees a key another transaction just committed
GET_BY_KEYS = f"SELECT {COLUMNS} FROM taskq_tasks WHERE idempotency_key = ANY(%s::text[])"
# The CTE is materialised so the locked batch is chosen exactly once (a subquery may be
# re-run by the planner, and with SKIP LOCKED each run can pick different rows).
# The first %(start)s of the locked batch (in claim order) are started in the same
# statement, for runners idle right now: one round trip and one commit instead of two.
CLAIM = f"""
WITH picked AS MATERIALIZED (
    SELECT seq, priority, run_at FROM taskq_tasks
    WHERE status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s {{queues}}
    ORDER BY priority DESC, run_at, seq
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED),
ranked AS (
    SELECT seq, row_number() OVER (ORDER BY priority DESC, run_at, seq) <= %(start)s AS starts
    FROM picked)
UPDATE taskq_tasks t SET worker_id = %(worker_id)s, lease_expires_at = %(lease_expires_at)s,
    status = CASE WHEN ranked.starts THEN 'running' ELSE t.status END,
    attempts = t.attempts + ranked.starts::int,
    started_at = CASE WHEN ranked.starts THEN %(now)s ELSE t.started_at END
FROM ranked
WHERE t.seq = ranked.seq
RETURNING {COLUMNS_OF_T}
"""
START = """
UPDATE taskq_tasks SET status = 'running', attempts = attempts + 1, started_at = %s,
    lease_expires_at = %s
WHERE id = %s AND worker_id = %s AND status = 'queued'
RETURNING attempts
"""
COMPLETE = """
UPDATE taskq_tasks SET status = 'completed', result = %s::jsonb, error = NULL,
    processed_at = %s, worker_id = NULL, lease_expires_at = NULL
WHERE id = %s AND worker_id = %s AND status = 'running'
"""
APPEND_ERROR = "errors = errors || jsonb_build_array(%(error_json)s::jsonb)"
# A task whose cancellation was asked for ends cancelled rather than retried; one due at
# once (e.g. interrupted by a shutdown) wakes another worker.
RETRY_LATER = _waking(
    f"""
UPDATE taskq_tasks SET
    status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
    processed_at = CASE WHEN cancel_requested THEN %(at)s END,
    error = %(error)s, {APPEND_ERROR}, run_at = %(run_at)s,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND worker_id = %(worker_id)s AND status = 'running'
RETURNING status, run_at
""",
    due="status = 'queued' AND run_at <= %(now)s",
)
FINISH = f"""
UPDATE taskq_tasks SET status = '{{status}}', error = %(error)s, {APPEND_ERROR},
    processed_at = %(now)s, worker_id = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND worker_id = %(worker_id)s AND status = 'running'
"""
FAIL = FINISH.format(status="failed")
MARK_CANCELLED = FINISH.format(status="cancelled")
CANCEL_QUEUED = """
UPDATE taskq_tasks SET status = 'cancelled', error = 'cancelled', processed_at = %s,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = %s AND status = 'queued'
"""
CANCEL_RUNNING = """
UPDATE taskq_tasks SET cancel_requested = true WHERE id = %s AND status = 'running'
"""
CANCEL_REQUESTS = """
SELECT id FROM taskq_tasks WHERE worker_id = %s AND cancel_requested AND status = 'running'
"""
REQUEUE = _waking(f"""
UPDATE taskq_tasks SET status = 'queued', attempts = 0, run_at = %s, result = NULL,
    started_at = NULL, processed_at = NULL, cancel_requested = false,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = %s AND status IN ('failed', 'cancelled')
RETURNING {COLUMNS}
""")
# SKIP LOCKED: concurrent pruners share the work instead of waiting for each other.
PRUNE = """
DELETE FROM taskq_tasks WHERE seq IN (
    SELECT seq FROM taskq_tasks
    WHERE status IN ('completed', 'failed', 'cancelled') AND processed_at < %s
    LIMIT %s
    FOR UPDATE SKIP LOCKED)
"""
RELEASE = _waking("""
UPDATE taskq_tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE id = ANY(%s::uuid[]) AND worker_id = %s AND status = 'queued'
RETURNING seq
""")
RENEW = """
UPDATE taskq_tasks SET lease_expires_at = %s WHERE worker_id = %s AND id = ANY(%s::uuid[])
"""
# Every worker runs recover on its heartbeat. SKIP LOCKED keeps them from queueing up
# behind each other or behind a heartbeat renewing those very rows (which then wins).
LAPSED = """
    SELECT seq FROM taskq_tasks
    WHERE worker_id IS NOT NULL AND status = '{status}'
        AND (lease_expires_at < %(now)s OR worker_id = ANY(%(dead)s::text[]))
    FOR UPDATE SKIP LOCKED
"""
# A lost worker's prefetched tasks simply go back; its running ones count a failed
# attempt (or end cancelled, if that was asked for).
RECOVER_UNSTARTED = f"""
UPDATE taskq_tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE seq IN ({LAPSED.format(status="queued")})
"""
RECOVER_RUNNING = f"""
UPDATE taskq_tasks SET
    status = CASE WHEN cancel_requested THEN 'cancelled'
        WHEN attempts < coalesce(max_attempts, %(default)s::integer) THEN 'queued'
        ELSE 'failed' END,
    processed_at = CASE
        WHEN attempts < coalesce(max_attempts, %(default)s::integer) AND NOT cancel_requested
        THEN NULL ELSE %(now)s END,
    error = %(error)s::text,
    errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempts,
        'error', %(error)s::text, 'at', %(now)s::double precision, 'traceback', NULL)),
    run_at = %(now)s, worker_id = NULL, lease_expires_at = NULL
WHERE seq IN ({LAPSED.format(status="running")})
"""
HELD_WORKERS = "SELECT DISTINCT worker_id FROM taskq_tasks WHERE worker_id IS NOT NULL"
GET = f"SELECT {COLUMNS} FROM taskq_tasks WHERE id = %s"
COUNTS = "SELECT status, count(*) FROM taskq_tasks GROUP BY status"
PING = "SELECT 1 FROM taskq_tasks LIMIT 0"

LEASE_LOST = "worker lost: its process died, or its lease lapsed unrenewed"

INT4 = range(-(2**31), 2**31)
MAX_SEQ = 2**63 - 1
# A publish of at least this many tasks is a batch already: it skips the group commit.
GROUP_COMMIT_MAX_TASKS = 64
# Connection settings taskq picks unless the URL says otherwise.
CONNECT_DEFAULTS = {"connect_timeout": "10", "application_name": "taskq"}
# Find a silently dropped listening connection (no FIN, e.g. a NAT timeout) in ~1 min.
LISTEN_DEFAULTS = {
    **CONNECT_DEFAULTS,
    "application_name": "taskq-listener",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
LISTEN_RETRY_MAX_S = 10.0
# How long an operation waits for a pooled connection while the server is known to be
# unreachable: long enough for a connection the pool is re-making, short enough that a
# readiness probe (Kubernetes waits 1 s) and an HTTP client hear "unavailable" at once.
DOWN_ACQUIRE_TIMEOUT_S = 0.5


class _RawJSON(Loader):
    """Hands JSONB over as text so msgspec, not json.loads, decodes it."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


# How rows are read: ids as str (as taskq passes them around), JSON for msgspec.
ADAPTERS = AdaptersMap(psycopg.adapters)
ADAPTERS.register_loader("jsonb", _RawJSON)
ADAPTERS.register_loader("uuid", TextLoader)


class _Row(msgspec.Struct):
    """One task as INSERT reads it from the batch's JSON."""

    id: str
    action: str
    payload: dict[str, Any]
    queue: str
    priority: int
    max_attempts: int | None
    timeout_s: float | None
    run_at: float
    created_at: float
    idempotency_key: str | None
    fingerprint: str | None


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    return lines[0] if lines and lines[0] else type(exc).__name__


def _uuid(task_id: str) -> str | None:
    """``task_id`` as PostgreSQL's uuid text, or None if it cannot be a task id."""
    try:
        return str(uuid.UUID(task_id))
    except (ValueError, TypeError, AttributeError):
        return None


def _conninfo(url: str, defaults: dict[str, str]) -> str:
    """libpq connection string for ``url``, adding ``defaults`` it does not set."""
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    given = conninfo_to_dict(url)
    return make_conninfo(url, **{k: v for k, v in defaults.items() if k not in given})


def _could_connect(pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> bool:
    """Whether the pool had room for another connection: if it still timed out, it failed
    to make one (the server is unreachable). A pool timing out at ``max_size`` is busy."""
    stats = pool.get_stats()
    return stats["pool_size"] < stats["pool_max"]


def _error_args(task_id: str, worker_id: str, error: AttemptError) -> dict[str, Any]:
    return {
        "id": task_id,
        "worker_id": worker_id,
        "error": error.error,
        "error_json": codec.encode(error),
    }


def _check_task(task: NewTask) -> None:
    if _uuid(task.id) != task.id:
        raise InvalidTask("id must be a UUID in its canonical form", field="id")
    # PostgreSQL's integer is 32 bits; SQLite would take 64.
    if task.priority not in INT4:
        raise InvalidTask("priority must fit in 32 bits", field="priority")
    if task.max_attempts is not None and task.max_attempts not in INT4:
        raise InvalidTask("max_attempts must fit in 32 bits", field="max_attempts")


class _Publish:
    """One publish call waiting in the group commit."""

    def __init__(
        self, rows: list[_Row], now: float, future: asyncio.Future[list[int | None]]
    ) -> None:
        self.rows = rows
        self.now = now
        self.future = future


class PostgresDriver:
    """Tasks in one PostgreSQL database, shared by any number of processes and hosts.

    ``min_size``/``max_size`` bound the connection pool (plus one listening connection
    per driver); ``acquire_timeout_s`` is how long an operation waits for a pooled
    connection before it gives up with StoreUnavailable (only ``DOWN_ACQUIRE_TIMEOUT_S``
    while the server is known to be unreachable). ``check_connections`` tests each
    connection as it leaves the pool (one more round trip) so a server restart costs no
    failed operations.
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
    ) -> None:
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError("need 0 <= min_size <= max_size and max_size >= 1")
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.acquire_timeout_s = acquire_timeout_s
        self.check_connections = check_connections
        self.group_commit = group_commit
        self._conninfo = _conninfo(url, CONNECT_DEFAULTS)
        self._listen_conninfo = _conninfo(url, LISTEN_DEFAULTS)
        params = conninfo_to_dict(self._conninfo)
        # for messages: never the URL, which may hold a password
        self._where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        self._pool: AsyncConnectionPool[AsyncConnection[TupleRow]] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._new_work = asyncio.Event()
        self._pending: list[_Publish] = []
        self._flusher: asyncio.Task[None] | None = None
        # when an operation last found the server unreachable; None once one gets through
        self._unreachable_since: float | None = None

    # lifecycle

    async def open(self) -> None:
        # The listening connection comes first: it fails fast with the server's own
        # reason, where a pool would retry until its timeout.
        try:
            listen_conn = await self._listen()
        except psycopg.errors.UndefinedTable as exc:
            raise SchemaMismatch(
                f"no taskq tables in the PostgreSQL database at {self._where}: "
                "run `taskq migrate` first"
            ) from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {self._where}: {_one_line(exc)}"
            ) from exc
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            self._conninfo,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True, "context": ADAPTERS},
            check=AsyncConnectionPool.check_connection if self.check_connections else None,
            timeout=self.acquire_timeout_s,
            name="taskq",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self.acquire_timeout_s)
        except psycopg.Error as exc:
            await listen_conn.close()
            raise StoreUnavailable(
                f"cannot open a connection pool to PostgreSQL at {self._where}: {_one_line(exc)}"
            ) from exc
        self._pool = pool
        self._unreachable_since = None
        self._listener = asyncio.create_task(self._keep_listening(listen_conn))

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[TupleRow]]:
        """A pooled connection (autocommit); any psycopg error becomes StoreUnavailable.

        While the server is known to be unreachable, wait for a connection only briefly:
        the pool keeps trying to reconnect on its own, and waiting for it the whole
        ``acquire_timeout_s`` would only make every caller hear the same answer later.
        """
        pool = self._pool
        if pool is None:
            raise StoreUnavailable("the PostgreSQL driver is not open")
        timeout_s = self.acquire_timeout_s
        if self._unreachable_since is not None:
            timeout_s = min(timeout_s, DOWN_ACQUIRE_TIMEOUT_S)
        conn: AsyncConnection[TupleRow] | None = None
        try:
            async with pool.connection(timeout_s) as conn:
                yield conn
        except psycopg.Error as exc:
            if conn is not None:  # the server answered, unless the connection broke
                self._note_reachable(not conn.broken)
            elif isinstance(exc, PoolTimeout) and _could_connect(pool):
                self._note_reachable(False)
            raise StoreUnavailable(f"PostgreSQL at {self._where}: {_one_line(exc)}") from exc
        self._note_reachable(True)

    def _note_reachable(self, reachable: bool) -> None:
        """Remember whether the server answered the last operation (see _connection)."""
        if reachable and self._unreachable_since is not None:
            down_s = time.monotonic() - self._unreachable_since
            self._unreachable_since = None
            log.info("PostgreSQL at %s answers again (after %.1f s)", self._where, down_s)
        elif not reachable and self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            log.warning(
                "PostgreSQL at %s is unreachable: operations fail fast until it answers",
                self._where,
            )

    async def _fetchone(self, query: str, args: Sequence[Any]) -> tuple[Any, ...] | None:
        async with self._connection() as conn:
            return await (await conn.execute(query, args)).fetchone()

    async def _fetchall(self, query: str | sql.Composed, args: Any = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            return await (await conn.execute(query, args)).fetchall()

    async def _rowcount(self, query: str, args: Any) -> int:
        """Run one write: how many rows it changed (or, with RETURNING, returned)."""
        async with self._connection() as conn:
            return (await conn.execute(query, args)).rowcount

    # wake-ups

    async def _listen(self) -> AsyncConnection[TupleRow]:
        """A new connection, outside the pool, subscribed to the channel."""
        conn = await AsyncConnection.connect(self._listen_conninfo, autocommit=True)
        try:
            await conn.execute(PING)
            await conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _keep_listening(self, conn: AsyncConnection[TupleRow] | None) -> None:
        """Turn notifications into wake-ups for as long as the driver is open."""
        delay_s = 0.5
        try:
            while True:
                try:
                    if conn is None:
                        conn = await self._listen()
                        log.info("LISTEN connection to %s is back", self._where)
                        delay_s = 0.5
                        self._new_work.set()  # anything sent while we were away
                    async with contextlib.aclosing(conn.notifies()) as notifies:
                        async for _ in notifies:
                            self._new_work.set()
                except Exception as exc:  # whatever broke it, keep the worker going
                    if conn is not None:
                        log.warning(
                            "lost the LISTEN connection to %s (%s): polling until it is back",
                            self._where,
                            _one_line(exc),
                        )
                        await conn.close()
                        conn = None
                    else:
                        log.debug("LISTEN reconnect failed: %s", _one_line(exc))
                    await asyncio.sleep(delay_s)
                    delay_s = min(delay_s * 2, LISTEN_RETRY_MAX_S)
        finally:
            if conn is not None:
                await conn.close()

    async def wait_for_work(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):  # unlike wait_for, no task of its own
                await self._new_work.wait()
        self._new_work.clear()

    # producers

    async def publish(self, tasks: Sequence[NewTask], *, now: float) -> list[Task]:
        for t in tasks:
            _check_task(t)
        rows = [
            _Row(
                id=t.id,
                action=t.action,
                payload=t.data,
                queue=t.queue,
                priority=t.priority,
                max_attempts=t.max_attempts,
                timeout_s=t.timeout_s,
                run_at=now if t.run_at is None else t.run_at,
                created_at=now,
                idempotency_key=t.idempotency_key,
                fingerprint=t.fingerprint,
            )
            for t in tasks
        ]
        if not rows:
            return []
        if self.group_commit and len(rows) < GROUP_COMMIT_MAX_TASKS:
            seqs = await self._insert_grouped(rows, now)
        else:
            seqs = await self._insert(rows, now=now)
        if any(seq is not None and r.run_at <= now for seq, r in zip(seqs, rows, strict=True)):
            self._new_work.set()
        taken = [r.idempotency_key for seq, r in zip(seqs, rows, strict=True) if seq is None]
        stored = await self._stored_by_key(taken) if taken else {}
        published: list[Task] = []
        for seq, r in zip(seqs, rows, strict=True):
            if seq is None:  # its idempotency key was taken: the task holding it instead
                published.append(stored[r.idempotency_key])
                continue
            published.append(
                Task(
                    seq=seq,
                    id=r.id,
                    action=r.action,
                    payload=r.payload,
                    status=Status.QUEUED,
                    queue=r.queue,
                    priority=r.priority,
                    max_attempts=r.max_attempts,
                    timeout_s=r.timeout_s,
                    run_at=r.run_at,
                    created_at=r.created_at,
                    idempotency_key=r.idempotency_key,
                    fingerprint=r.fingerprint,
                )
            )
        return published

    async def _stored_by_key(self, keys: list[str | None]) -> dict[str | None, Task]:
        """The stored tasks holding these idempotency keys."""
        found = {
            t.idempotency_key: t
            for t in map(row_to_task, await self._fetchall(GET_BY_KEYS, (keys,)))
        }
        if any(k not in found for k in keys):  # pruned in between: the key is free again
            raise StoreUnavailable("an idempotency key changed hands during the publish, try again")
        return found

    async def _insert(self, rows: list[_Row], *, now: float) -> list[int | None]:
        """Insert ``rows`` in one statement: each one's seq, None if its key was taken."""
        batch = codec.encode(rows)
        async with self._connection() as conn:
            try:
                cur = await conn.execute(PUBLISH, (batch, now))
                seq_of = {row[0]: row[1] for row in await cur.fetchall()}
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                # e.g. a NUL character, which PostgreSQL text and JSONB cannot hold
                raise InvalidTask(f"PostgreSQL cannot store this task: {_one_line(exc)}") from exc
        return [seq_of.get(r.id) for r in rows]

    async def _insert_grouped(self, rows: list[_Row], now: float) -> list[int | None]:
        """Insert ``rows`` in the next group commit; return once it has committed."""
        loop = asyncio.get_running_loop()
        publish = _Publish(rows, now, loop.create_future())
        self._pending.append(publish)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await publish.future

    async def _flush(self) -> None:
        """Commit the waiting publishes, a batch at a time, until none are left."""
        batch: list[_Publish] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                rows = [r for p in batch for r in p.rows]
                try:
                    seqs = await self._insert(rows, now=max(p.now for p in batch))
                except InvalidTask as exc:
                    if len(batch) == 1:
                        _settle(batch[0].future, exc=exc)
                    else:  # one unstorable task must not fail its neighbours
                        await asyncio.gather(*(self._insert_alone(p) for p in batch))
                    continue
                except Exception as exc:  # handed to every waiting caller
                    for p in batch:
                        _settle(p.future, exc=exc)
                    continue
                start = 0
                for p in batch:
                    _settle(p.future, seqs[start : start + len(p.rows)])
                    start += len(p.rows)
        finally:
            # Interrupted (the loop is shutting down): nobody may wait forever.
            for p in batch:
                _settle(p.future, exc=StoreUnavailable("publish interrupted, outcome unknown"))
            self._flusher = None

    async def _insert_alone(self, publish: _Publish) -> None:
        try:
            seqs = await self._insert(publish.rows, now=publish.now)
        except Exception as exc:  # handed to the caller
            _settle(publish.future, exc=exc)
        else:
            _settle(publish.future, seqs)

    async def cancel(self, task_id: str, *, now: float) -> Task | None:
        key = _uuid(task_id)
        if key is None:
            return None
        async with self._connection() as conn, conn.transaction():
            await conn.execute(CANCEL_QUEUED, (now, key))
            await conn.execute(CANCEL_RUNNING, (key,))
            row = await (await conn.execute(GET, (key,))).fetchone()
        return None if row is None else row_to_task(row)

    async def requeue(self, task_id: str, *, now: float) -> tuple[bool, Task | None]:
        key = _uuid(task_id)
        if key is None:
            return False, None
        row = await self._fetchone(REQUEUE, (now, key))
        if row is not None:
            self._new_work.set()
            return True, row_to_task(row)
        return False, await self.get(key)

    async def prune(self, *, before: float, limit: int) -> int:
        return await self._rowcount(PRUNE, (before, limit))

    # readers

    async def get(self, task_id: str) -> Task | None:
        key = _uuid(task_id)
        if key is None:
            return None
        row = await self._fetchone(GET, (key,))
        return None if row is None else row_to_task(row)

    async def list_tasks(
        self,
        *,
        status: Status | None = None,
        action: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[Task]:
        where: list[sql.Composable] = []
        args: list[object] = []
        if status is not None:
            where.append(sql.SQL("status = %s"))
            args.append(str(status))
        if action is not None:
            where.append(sql.SQL("action = %s"))
            args.append(action)
        if before_seq is not None:
            where.append(sql.SQL("seq < %s"))
            args.append(min(before_seq, MAX_SEQ))
        clause = sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        query = sql.SQL("SELECT {} FROM taskq_tasks {} ORDER BY seq DESC LIMIT %s").format(
            sql.SQL(COLUMNS), clause
        )
        rows = await self._fetchall(query, (*args, limit))
        return [row_to_task(r) for r in rows]

    async def counts(self) -> dict[Status, int]:
        found = {Status(s): n for s, n in await self._fetchall(COUNTS)}
        return {s: found.get(s, 0) for s in Status}

    async def ping(self) -> None:
        await self._fetchall(PING)

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
    ) -> list[Task]:
        if n < 1:
            return []
        args: dict[str, Any] = {
            "worker_id": worker_id,
            "lease_expires_at": now + lease_s,
            "now": now,
            "n": n,
            "start": max(0, min(start, n)),
        }
        queue_filter = ""
        if queues and len(queues) == 1:
            # "=" lets the ready index hand rows over in claim order; "= ANY" makes
            # PostgreSQL sort every ready row of the table first.
            queue_filter = "AND queue = %(queue)s"
            args["queue"] = queues[0]
        elif queues:
            queue_filter = "AND queue = ANY(%(queues)s::text[])"
            args["queues"] = list(queues)
        rows = await self._fetchall(CLAIM.format(queues=queue_filter), args)
        tasks = [row_to_task(r) for r in rows]
        # RETURNING gives no order guarantee; started ones go first, as they were first
        tasks.sort(key=lambda t: (t.status is not Status.RUNNING, -t.priority, t.run_at, t.seq))
        return tasks

    async def start(
        self, task_id: str, worker_id: str, *, lease_s: float, now: float
    ) -> int | None:
        key = _uuid(task_id)
        if key is None:
            return None
        row = await self._fetchone(START, (now, now + lease_s, key, worker_id))
        return None if row is None else int(row[0])

    async def complete(self, task_id: str, worker_id: str, result_json: str, *, now: float) -> bool:
        key = _uuid(task_id)
        if key is None:
            return False
        return await self._rowcount(COMPLETE, (result_json, now, key, worker_id)) == 1

    async def retry_later(
        self, task_id: str, worker_id: str, error: AttemptError, *, run_at: float
    ) -> bool:
        key = _uuid(task_id)
        if key is None:
            return False
        now = time.time()
        args = {**_error_args(key, worker_id, error), "at": error.at, "run_at": run_at, "now": now}
        rows = await self._fetchall(RETRY_LATER, args)
        if rows and rows[0][0] == Status.QUEUED and run_at <= now:
            self._new_work.set()
        return len(rows) == 1

    async def fail(self, task_id: str, worker_id: str, error: AttemptError, *, now: float) -> bool:
        return await self._finish(FAIL, task_id, worker_id, error, now=now)

    async def mark_cancelled(
        self, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        return await self._finish(MARK_CANCELLED, task_id, worker_id, error, now=now)

    async def _finish(
        self, query: str, task_id: str, worker_id: str, error: AttemptError, *, now: float
    ) -> bool:
        key = _uuid(task_id)
        if key is None:
            return False
        args = {**_error_args(key, worker_id, error), "now": now}
        return await self._rowcount(query, args) == 1

    async def cancel_requests(self, worker_id: str) -> list[str]:
        return [r[0] for r in await self._fetchall(CANCEL_REQUESTS, (worker_id,))]

    async def release(self, task_ids: Sequence[str], worker_id: str) -> int:
        keys = [k for k in map(_uuid, task_ids) if k is not None]
        if not keys:
            return 0
        n = await self._rowcount(RELEASE, (keys, worker_id))
        if n:
            self._new_work.set()
        return n

    async def renew_leases(
        self, worker_id: str, task_ids: Sequence[str], *, lease_s: float, now: float
    ) -> int:
        keys = [k for k in map(_uuid, task_ids) if k is not None]
        if not keys:
            return 0
        return await self._rowcount(RENEW, (now + lease_s, worker_id, keys))

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
        async with self._connection() as conn, conn.transaction():
            n = (await conn.execute(RECOVER_UNSTARTED, args)).rowcount
            n += (await conn.execute(RECOVER_RUNNING, args)).rowcount
            if n:
                await conn.execute(NOTIFY)
        if n:
            self._new_work.set()
        return n

    async def held_worker_ids(self) -> list[str]:
        return [r[0] for r in await self._fetchall(HELD_WORKERS)]


def _settle(
    future: asyncio.Future[list[int | None]],
    result: list[int | None] | None = None,
    *,
    exc: BaseException | None = None,
) -> None:
    """Resolve a waiting publish unless its caller gave up; each gets its own exception."""
    if future.done():
        return
    if exc is None:
        assert result is not None
        future.set_result(result)
    elif isinstance(exc, InvalidTask):
        future.set_exception(InvalidTask(str(exc), field=exc.field))
    elif isinstance(exc, StoreUnavailable):
        future.set_exception(StoreUnavailable(str(exc)))
    else:
        future.set_exception(StoreUnavailable(f"publish failed: {_one_line(exc)}"))
