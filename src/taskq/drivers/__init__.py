"""Queue drivers, one module per backend; ``for_url`` picks one from a database URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from taskq.drivers.base import Driver


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://"))


def display_url(url: str) -> str:
    """The database URL as it may be shown in a message or a log: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(url: str) -> str:
    """The file path of a SQLite database given as a path or a ``sqlite:///`` URL."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///") or ":memory:"
    if url.startswith("sqlite://"):
        raise ValueError(
            f"unsupported SQLite URL {url!r}: use sqlite:///relative or sqlite:////abs"
        )
    return url


def for_url(
    url: str,
    *,
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL",
    sqlite_worker_sync_ms: int = 20,
    pg_pool_size: int = 10,
) -> Driver:
    """The driver for a database URL or a plain SQLite file path."""
    if is_postgres_url(url):
        from taskq.drivers.postgres import PostgresDriver

        return PostgresDriver(url, max_size=pg_pool_size)
    if "://" in url and not url.startswith("sqlite:"):
        raise ValueError(
            f"unsupported database URL {url!r}: use a file path, sqlite:/// or postgresql://"
        )
    from taskq.drivers.sqlite import SqliteDriver

    return SqliteDriver(
        sqlite_path(url), synchronous=sqlite_synchronous, worker_sync_ms=sqlite_worker_sync_ms
    )
