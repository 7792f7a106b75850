"""Queue drivers, one module per backend; ``for_url`` picks one from a database URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from taskq.drivers.base import Driver


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://"))


# query parameters of a libpq URL that hold a secret
SECRET_PARAMS = frozenset({"password", "sslpassword"})


def display_url(url: str) -> str:
    """The database URL as it may be shown in a message or a log: without its passwords
    (``user:password@`` and ``?password=``)."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # not even a URL: show its scheme alone
        return url.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{port}" if port else "")
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="*"
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def is_memory_url(url: str) -> bool:
    """The in-memory store (``memory://`` or ``memory://name``): one process, no file."""
    return url.startswith("memory://")


def check_url(url: str) -> str:
    """``url`` if taskq has a driver for it; else ValueError saying which URLs work."""
    if not url:
        raise ValueError("no database given")
    if is_postgres_url(url) or is_memory_url(url) or url.startswith("sqlite:///"):
        return url
    if "://" not in url:
        return url
    raise ValueError(
        f"unsupported database URL {display_url(url)}:"
        " use a file path, sqlite:///path, postgresql:// or memory://"
    )


def sqlite_path(url: str) -> str:
    """The file path of a SQLite database given as a path or a ``sqlite:///`` URL."""
    check_url(url)
    if is_postgres_url(url) or is_memory_url(url):
        raise ValueError(f"{display_url(url)} is not a SQLite database")
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///") or ":memory:"
    return url


def for_url(
    url: str,
    *,
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL",
    sqlite_worker_sync_ms: int = 20,
    pg_pool_size: int = 10,
    pg_worker_commit: Literal["async", "sync"] = "async",
) -> Driver:
    """The driver for a database URL or a plain SQLite file path."""
    if is_postgres_url(url):
        from taskq.drivers.postgres import PostgresDriver

        return PostgresDriver(url, max_size=pg_pool_size, worker_commit=pg_worker_commit)
    if is_memory_url(url):
        from taskq.drivers.memory import MemoryDriver

        return MemoryDriver(url)
    check_url(url)
    from taskq.drivers.sqlite import SqliteDriver

    return SqliteDriver(
        sqlite_path(url), synchronous=sqlite_synchronous, worker_sync_ms=sqlite_worker_sync_ms
    )
