"""The SQLite driver: ``driver`` (the verbs), ``writer`` (group commit), ``merged`` (the
writes merged across callers), ``connection`` (PRAGMAs, locks, the disk), and its SQL in
``statements.sql``."""

from taskq.drivers.sqlite.connection import connect, use_wal
from taskq.drivers.sqlite.driver import MIN_FREE_BYTES, SqliteDriver

__all__ = ["MIN_FREE_BYTES", "SqliteDriver", "connect", "use_wal"]
