"""Versioned schema, one folder of plain SQL per dialect, applied with yoyo-migrations.

``migrate`` is the one-shot step that must finish before a service starts; ``check``
is what a starting service runs to refuse a schema that is behind or ahead of it.
Concurrent migrators are serialised by a lock the OS drops when its holder dies
(flock on SQLite, an advisory lock on PostgreSQL), so a migrator killed mid-way never
leaves the next one waiting.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from yoyo import get_backend, read_migrations

from taskq.drivers import display_url, is_memory_url, is_postgres_url, sqlite_path
from taskq.drivers.sqlite import use_wal
from taskq.drivers.statements import load
from taskq.errors import SchemaMismatch, StoreUnavailable

HERE = Path(__file__).parent
# An arbitrary constant: the advisory lock key all taskq migrators agree on.
PG_LOCK_KEY = 7_461_737_100


def _yoyo_uri(database: str) -> str:
    if is_postgres_url(database):
        rest = database.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"
    return f"sqlite:///{sqlite_path(database)}"


def _dialect(database: str) -> str:
    return "postgres" if is_postgres_url(database) else "sqlite"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def _backend(database: str) -> Iterator[Any]:
    if not is_postgres_url(database):
        directory = Path(sqlite_path(database)).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreUnavailable(
                f"cannot use {database}: {directory} is not a directory"
            ) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {directory}: {exc.strerror}") from exc
    try:
        backend = get_backend(_yoyo_uri(database))
    except Exception as exc:
        raise StoreUnavailable(
            f"cannot open database {display_url(database)}: {_one_line(exc)}"
        ) from exc
    try:
        yield backend
    finally:
        with contextlib.suppress(Exception):
            backend.connection.close()


@contextlib.contextmanager
def _exclusive(database: str, backend: Any) -> Iterator[None]:
    if is_postgres_url(database):
        sql = load("taskq.drivers.postgres")  # here: only a PostgreSQL migration needs psycopg
        cursor = backend.connection.cursor()
        cursor.execute(sql["migration_lock"], (PG_LOCK_KEY,))
        backend.connection.commit()
        try:
            yield
        finally:
            cursor.execute(sql["migration_unlock"], (PG_LOCK_KEY,))
            backend.connection.commit()
        return
    lock_path = Path(f"{sqlite_path(database)}.migrate.lock")
    with lock_path.open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _status(backend: Any, database: str) -> tuple[Any, set[str]]:
    """Migrations not yet applied (a yoyo MigrationList), and applied ones we do not know."""
    migrations = read_migrations(str(HERE / _dialect(database)))
    applied = set(backend.get_applied_migration_hashes())
    unknown = applied - {m.hash for m in migrations}
    return backend.to_apply(migrations), unknown


def migrate(database: str) -> list[str]:
    """Apply pending migrations; return the ids applied (none when up to date, and for the
    in-memory store, which has no schema)."""
    if is_memory_url(database):
        return []
    with _backend(database) as backend:
        try:
            with _exclusive(database, backend):
                # We hold the OS-level lock, so any yoyo lock row is a dead migrator's.
                backend.break_lock()
                pending, unknown = _status(backend, database)
                if unknown:
                    raise SchemaMismatch(_newer_message(database, unknown))
                with backend.lock():
                    backend.apply_migrations(pending)
                if not is_postgres_url(database):
                    # WAL is a property of the file: set it now, while no service runs
                    use_wal(backend.connection)
                return [m.id for m in pending]
        except SchemaMismatch:
            raise
        except Exception as exc:
            raise StoreUnavailable(
                f"migration of {display_url(database)} failed: {_one_line(exc)}"
            ) from exc


def check(database: str) -> None:
    """Raise SchemaMismatch unless the schema is exactly the one this taskq expects."""
    if is_memory_url(database):
        return
    if not is_postgres_url(database) and not Path(sqlite_path(database)).exists():
        raise SchemaMismatch(f"{database} does not exist: run `taskq migrate` first")
    with _backend(database) as backend:
        try:
            pending, unknown = _status(backend, database)
        except Exception as exc:
            raise StoreUnavailable(
                f"cannot read schema of {display_url(database)}: {_one_line(exc)}"
            ) from exc
    if unknown:
        raise SchemaMismatch(_newer_message(database, unknown))
    if pending:
        ids = ", ".join(m.id for m in pending)
        raise SchemaMismatch(
            f"{display_url(database)} needs migrations ({ids}): run `taskq migrate` first"
        )


def _newer_message(database: str, unknown: set[str]) -> str:
    return (
        f"{display_url(database)} has a newer schema than this taskq"
        f" ({len(unknown)} unknown migrations): upgrade taskq"
    )
