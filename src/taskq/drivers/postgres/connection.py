"""PostgreSQL connections as taskq uses them: a pool per process, rows read the way taskq
wants them, and operations that fail fast while the server is known to be unreachable.

psycopg's errors never leave this module: an unreachable or failing server is
``StoreUnavailable``, and no message holds the URL (which may hold a password).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.abc import Buffer
from psycopg.adapt import AdaptersMap, Loader
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from taskq.errors import StoreUnavailable

log = logging.getLogger(__name__)

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
# The connection open() makes first and closes: named apart, so that it is not taken for
# the pool's or the listener's while the server still counts it.
PROBE_DEFAULTS = {**CONNECT_DEFAULTS, "application_name": "taskq-probe"}
# How long an operation waits for a pooled connection while the server is known to be
# unreachable: long enough for a connection the pool is re-making, short enough that a
# readiness probe (Kubernetes waits 1 s) and an HTTP client hear "unavailable" at once.
DOWN_ACQUIRE_TIMEOUT_S = 0.5


class _RawJSON(Loader):
    """Hands JSONB over as text so msgspec, not json.loads, decodes it."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def read_as_taskq(adapters: AdaptersMap) -> None:
    """Read rows the way taskq wants them: ids as str (as taskq passes them around), JSON
    as text for msgspec."""
    adapters.register_loader("jsonb", _RawJSON)
    adapters.register_loader("uuid", TextLoader)


ADAPTERS = AdaptersMap(psycopg.adapters)
read_as_taskq(ADAPTERS)


def one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    return lines[0] if lines and lines[0] else type(exc).__name__


def as_uuid(task_id: str) -> str | None:
    """``task_id`` as PostgreSQL's uuid text, or None if it cannot be a task id."""
    try:
        return str(uuid.UUID(task_id))
    except (ValueError, TypeError, AttributeError):
        return None


def conninfo(url: str, defaults: dict[str, str]) -> str:
    """libpq connection string for ``url``, adding ``defaults`` it does not set."""
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    given = conninfo_to_dict(url)
    return make_conninfo(url, **{k: v for k, v in defaults.items() if k not in given})


def _could_connect(pool: AsyncConnectionPool[AsyncConnection[TupleRow]]) -> bool:
    """Whether the pool had room for another connection: if it still timed out, it failed
    to make one (the server is unreachable). A pool timing out at ``max_size`` is busy."""
    stats = pool.get_stats()
    return stats["pool_size"] < stats["pool_max"]


class Connections:
    """The pool of one driver, and what it knows of the server's health.

    ``acquire_timeout_s`` is how long an operation waits for a pooled connection before it
    gives up with StoreUnavailable (only ``DOWN_ACQUIRE_TIMEOUT_S`` while the server is
    known to be unreachable). ``check_connections`` tests each connection as it leaves the
    pool (one more round trip) so a server restart costs no failed operations.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int,
        max_size: int,
        acquire_timeout_s: float,
        check_connections: bool,
    ) -> None:
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError("need 0 <= min_size <= max_size and max_size >= 1")
        self.min_size = min_size
        self.max_size = max_size
        self.acquire_timeout_s = acquire_timeout_s
        self.check_connections = check_connections
        self.conninfo = conninfo(url, CONNECT_DEFAULTS)
        self.listen_conninfo = conninfo(url, LISTEN_DEFAULTS)
        self.probe_conninfo = conninfo(url, PROBE_DEFAULTS)
        params = conninfo_to_dict(self.conninfo)
        # for messages: never the URL, which may hold a password
        self.where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        self.pool: AsyncConnectionPool[AsyncConnection[TupleRow]] | None = None
        # when an operation last found the server unreachable; None once one gets through
        self._unreachable_since: float | None = None

    async def open(self) -> None:
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            self.conninfo,
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
            raise StoreUnavailable(
                f"cannot open a connection pool to PostgreSQL at {self.where}: {one_line(exc)}"
            ) from exc
        self.pool = pool
        self._unreachable_since = None

    async def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[TupleRow]]:
        """A pooled connection (autocommit); any psycopg error becomes StoreUnavailable.

        While the server is known to be unreachable, wait for a connection only briefly:
        the pool keeps trying to reconnect on its own, and waiting for it the whole
        ``acquire_timeout_s`` would only make every caller hear the same answer later.
        """
        pool = self.pool
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
            raise StoreUnavailable(f"PostgreSQL at {self.where}: {one_line(exc)}") from exc
        self._note_reachable(True)

    def _note_reachable(self, reachable: bool) -> None:
        """Remember whether the server answered the last operation (see connection)."""
        if reachable and self._unreachable_since is not None:
            down_s = time.monotonic() - self._unreachable_since
            self._unreachable_since = None
            log.info("PostgreSQL at %s answers again (after %.1f s)", self.where, down_s)
        elif not reachable and self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            log.warning(
                "PostgreSQL at %s is unreachable: operations fail fast until it answers",
                self.where,
            )

    async def fetchone(self, query: str, args: Any = ()) -> tuple[Any, ...] | None:
        async with self.connection() as conn:
            return await (await conn.execute(query, args)).fetchone()

    async def fetchall(self, query: str, args: Any = ()) -> list[tuple[Any, ...]]:
        async with self.connection() as conn:
            return await (await conn.execute(query, args)).fetchall()

    async def rowcount(self, query: str, args: Any) -> int:
        """Run one write: how many rows it changed (or, with RETURNING, returned)."""
        async with self.connection() as conn:
            return (await conn.execute(query, args)).rowcount

    async def probe(self, probe: str) -> None:
        """Connect outside the pool, run ``probe``, close: the server's own reason, at
        once, if it cannot be used."""
        async with await AsyncConnection.connect(self.probe_conninfo, autocommit=True) as conn:
            await conn.execute(probe)

    async def listening(self, listen: str, probe: str) -> AsyncConnection[TupleRow]:
        """A new connection, outside the pool, that ran ``probe`` then ``listen``."""
        conn = await AsyncConnection.connect(self.listen_conninfo, autocommit=True)
        try:
            await conn.execute(probe)
            await conn.execute(listen)
        except BaseException:
            await conn.close()
            raise
        return conn
