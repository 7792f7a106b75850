"""The server driver: tasks in PostgreSQL, for many workers on many machines.

SQLite serialises every write through one process; PostgreSQL lets any number of
workers, on any hosts, share one queue. What makes that safe and quick:

* ``claim`` locks its batch with ``FOR UPDATE SKIP LOCKED``: concurrent claimers never
  wait on each other and never get the same task.
* Workers sleep on ``LISTEN``: every write that makes work ready (``publish``,
  ``recover``, ``release``, a due ``retry_later``) sends ``NOTIFY`` in its own
  transaction, so idle workers everywhere wake when it commits, not at their next poll.
  The poll (``wait_for_work``'s timeout) only covers notifications lost while the
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
from psycopg_pool import AsyncConnectionPool

from taskq import codec
from taskq.errors import InvalidTask, SchemaMismatch, StoreUnavailable
from taskq.task import AttemptError, NewTask, Status, Task, new_task_id

log = logging.getLogger(__name__)
# psycopg_pool narrates every connection checkout at INFO; its warnings are what matter.
if logging.getLogger("psycopg.pool").level == logging.NOTSET:
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)

CHANNEL = "taskq_tasks"
NOTIFY = f"NOTIFY {CHANNEL}"

COLUMNS = (
    "seq, id, action, payload, queue, priority, status, result, error, errors, attempts,"
    " max_attempts, timeout_s, run_at, created_at, started_at, processed_at"
)
# One statement for any number of tasks: the batch travels as one JSON array, which
# PostgreSQL unpacks far faster than it runs one INSERT a row. ORDER BY keeps ``seq``
# (the FIFO tie-break) in submission order.
INSERT = """
INSERT INTO taskq_tasks
    (id, action, payload, queue, priority, max_attempts, timeout_s, run_at, created_at)
SELECT id, action, payload, queue, priority, max_attempts, timeout_s, run_at, created_at
FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (
        id uuid, action text, payload jsonb, queue text, priority integer,
        max_attempts integer, timeout_s double precision, run_at double precision,
        created_at double precision))
    WITH ORDINALITY AS new (id, action, payload, queue, priority, max_attempts, timeout_s,
        run_at, created_at, n)
ORDER BY n
RETURNING id, seq
"""
# The CTE is materialised so the locked batch is chosen exactly once (a subquery may be
# re-run by the planner, and with SKIP LOCKED each run can pick different rows).
CLAIM = f"""
WITH picked AS MATERIALIZED (
    SELECT seq FROM taskq_tasks
    WHERE status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s {{queues}}
    ORDER BY priority DESC, run_at, seq
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED)
UPDATE taskq_tasks SET worker_id = %(worker_id)s, lease_expires_at = %(lease_expires_at)s
WHERE seq IN (SELECT seq FROM picked)
RETURNING {COLUMNS}
"""
START = f"""
UPDATE taskq_tasks SET status = 'running', attempts = attempts + 1, started_at = %s,
    lease_expires_at = %s
WHERE id = %s AND worker_id = %s AND status = 'queued'
RETURNING {COLUMNS}
"""
COMPLETE = """
UPDATE taskq_tasks SET status = 'completed', result = %s::jsonb, error = NULL,
    processed_at = %s, worker_id = NULL, lease_expires_at = NULL
WHERE id = %s AND worker_id = %s AND status = 'running'
"""
APPEND_ERROR = "errors = errors || jsonb_build_array(%s::jsonb)"
RETRY_LATER = f"""
UPDATE taskq_tasks SET status = 'queued', error = %s, {APPEND_ERROR}, run_at = %s,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = %s AND worker_id = %s AND status = 'running'
"""
FAIL = f"""
UPDATE taskq_tasks SET status = 'failed', error = %s, {APPEND_ERROR}, processed_at = %s,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = %s AND worker_id = %s AND status = 'running'
"""
RELEASE = """
UPDATE taskq_tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE id = ANY(%s::uuid[]) AND worker_id = %s AND status = 'queued'
"""
RENEW = "UPDATE taskq_tasks SET lease_expires_at = %s WHERE worker_id = %s"
# Every worker runs recover on its heartbeat. SKIP LOCKED keeps them from queueing up
# behind each other or behind a heartbeat renewing those very rows (which then wins).
LAPSED = """
    SELECT seq FROM taskq_tasks
    WHERE worker_id IS NOT NULL AND status = '{status}'
        AND (lease_expires_at < %(now)s OR worker_id = ANY(%(dead)s::text[]))
    FOR UPDATE SKIP LOCKED
"""
# A lost worker's prefetched tasks simply go back; its running ones count a failed attempt.
RECOVER_UNSTARTED = f"""
UPDATE taskq_tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE seq IN ({LAPSED.format(status="queued")})
"""
RECOVER_RUNNING = f"""
UPDATE taskq_tasks SET
    status = CASE WHEN attempts < coalesce(max_attempts, %(default)s::integer)
        THEN 'queued' ELSE 'failed' END,
    processed_at = CASE WHEN attempts < coalesce(max_attempts, %(default)s::integer)
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

LEASE_LOST = "lease expired: the worker running this attempt stopped answering"

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


def _row_to_task(row: tuple[Any, ...]) -> Task:
    return Task(
        seq=row[0],
        id=row[1],
        action=row[2],
        payload=codec.decode(row[3]),
        queue=row[4],
        priority=row[5],
        status=Status(row[6]),
        result=None if row[7] is None else codec.decode(row[7]),
        error=row[8],
        errors=codec.decode_errors(row[9]),
        attempts=row[10],
        max_attempts=row[11],
        timeout_s=row[12],
        run_at=row[13],
        created_at=row[14],
        started_at=row[15],
        processed_at=row[16],
    )


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


def _check_task(task: NewTask) -> None:
    # PostgreSQL's integer is 32 bits; SQLite would take 64.
    if task.priority not in INT4:
        raise InvalidTask("priority must fit in 32 bits", field="priority")
    if task.max_attempts is not None and task.max_attempts not in INT4:
        raise InvalidTask("max_attempts must fit in 32 bits", field="max_attempts")


class _Publish:
    """One publish call waiting in the group commit."""

    def __init__(self, rows: list[_Row], ready: bool, future: asyncio.Future[list[int]]) -> None:
        self.rows = rows
        self.ready = ready
        self.future = future


class PostgresDriver:
    """Tasks in one PostgreSQL database, shared by any number of processes and hosts.

    ``min_size``/``max_size`` bound the connection pool (plus one listening connection
    per driver); ``acquire_timeout_s`` is how long an operation waits for a pooled
    connection before it gives up with StoreUnavailable. ``check_connections`` tests each
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
        """A pooled connection (autocommit); any psycopg error becomes StoreUnavailable."""
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL driver is not open")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL at {self._where}: {_one_line(exc)}") from exc

    async def _fetchone(self, query: str, args: Sequence[Any]) -> tuple[Any, ...] | None:
        async with self._connection() as conn:
            return await (await conn.execute(query, args)).fetchone()

    async def _fetchall(self, query: str | sql.Composed, args: Any = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            return await (await conn.execute(query, args)).fetchall()

    async def _rowcount(self, query: str, args: Sequence[Any], *, notify: bool = False) -> int:
        """Run one write; with ``notify``, wake listeners in the same transaction."""
        async with self._connection() as conn:
            if not notify:
                return (await conn.execute(query, args)).rowcount
            async with conn.pipeline(), conn.transaction():  # one round trip
                cur = await conn.execute(query, args)
                await conn.execute(NOTIFY)
            return cur.rowcount

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
                except psycopg.Error as exc:
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
            await asyncio.wait_for(self._new_work.wait(), timeout_s)
        self._new_work.clear()

    # producers

    async def publish(self, tasks: Sequence[NewTask], *, now: float) -> list[Task]:
        for t in tasks:
            _check_task(t)
        rows = [
            _Row(
                id=new_task_id(),
                action=t.action,
                payload=t.data,
                queue=t.queue,
                priority=t.priority,
                max_attempts=t.max_attempts,
                timeout_s=t.timeout_s,
                run_at=now if t.run_at is None else t.run_at,
                created_at=now,
            )
            for t in tasks
        ]
        if not rows:
            return []
        ready = any(r.run_at <= now for r in rows)
        if self.group_commit and len(rows) < GROUP_COMMIT_MAX_TASKS:
            seqs = await self._insert_grouped(rows, ready)
        else:
            seqs = await self._insert(rows, notify=ready)
        if ready:
            self._new_work.set()
        return [
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
            )
            for seq, r in zip(seqs, rows, strict=True)
        ]

    async def _insert(self, rows: list[_Row], *, notify: bool) -> list[int]:
        """Insert ``rows`` in one transaction; their seqs, in order."""
        batch = codec.encode(rows)
        async with self._connection() as conn:
            try:
                if notify:
                    async with conn.pipeline(), conn.transaction():
                        cur = await conn.execute(INSERT, (batch,))
                        await conn.execute(NOTIFY)
                else:
                    cur = await conn.execute(INSERT, (batch,))
                seq_of = dict(await cur.fetchall())
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                # e.g. a NUL character, which PostgreSQL text and JSONB cannot hold
                raise InvalidTask(f"PostgreSQL cannot store this task: {_one_line(exc)}") from exc
        return [seq_of[r.id] for r in rows]

    async def _insert_grouped(self, rows: list[_Row], ready: bool) -> list[int]:
        """Insert ``rows`` in the next group commit; return once it has committed."""
        loop = asyncio.get_running_loop()
        publish = _Publish(rows, ready, loop.create_future())
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
                    seqs = await self._insert(rows, notify=any(p.ready for p in batch))
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
            seqs = await self._insert(publish.rows, notify=publish.ready)
        except Exception as exc:  # handed to the caller
            _settle(publish.future, exc=exc)
        else:
            _settle(publish.future, seqs)

    # readers

    async def get(self, task_id: str) -> Task | None:
        key = _uuid(task_id)
        if key is None:
            return None
        row = await self._fetchone(GET, (key,))
        return None if row is None else _row_to_task(row)

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
        return [_row_to_task(r) for r in rows]

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
    ) -> list[Task]:
        if n < 1:
            return []
        args: dict[str, Any] = {
            "worker_id": worker_id,
            "lease_expires_at": now + lease_s,
            "now": now,
            "n": n,
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
        tasks = [_row_to_task(r) for r in rows]
        # RETURNING gives no order guarantee
        tasks.sort(key=lambda t: (-t.priority, t.run_at, t.seq))
        return tasks

    async def start(
        self, task_id: str, worker_id: str, *, lease_s: float, now: float
    ) -> Task | None:
        key = _uuid(task_id)
        if key is None:
            return None
        row = await self._fetchone(START, (now, now + lease_s, key, worker_id))
        return None if row is None else _row_to_task(row)

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
        args = (error.error, codec.encode(error), run_at, key, worker_id)
        # due at once (e.g. interrupted by a shutdown): another worker may take it now
        notify = run_at <= time.time()
        n = await self._rowcount(RETRY_LATER, args, notify=notify)
        if n and notify:
            self._new_work.set()
        return n == 1

    async def fail(self, task_id: str, worker_id: str, error: AttemptError, *, now: float) -> bool:
        key = _uuid(task_id)
        if key is None:
            return False
        args = (error.error, codec.encode(error), now, key, worker_id)
        return await self._rowcount(FAIL, args) == 1

    async def release(self, task_ids: Sequence[str], worker_id: str) -> int:
        keys = [k for k in map(_uuid, task_ids) if k is not None]
        if not keys:
            return 0
        n = await self._rowcount(RELEASE, (keys, worker_id), notify=True)
        if n:
            self._new_work.set()
        return n

    async def renew_leases(self, worker_id: str, *, lease_s: float, now: float) -> int:
        return await self._rowcount(RENEW, (now + lease_s, worker_id))

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
    future: asyncio.Future[list[int]],
    result: list[int] | None = None,
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
