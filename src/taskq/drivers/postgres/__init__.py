"""The PostgreSQL driver: ``driver`` (the verbs, group commit per kind of write),
``connection`` (the pool, fast failure while the server is down), and its SQL in
``statements.sql``. Wake-ups (LISTEN) are in drivers/wakeups.py."""

from taskq.drivers.postgres.driver import PostgresDriver

__all__ = ["PostgresDriver"]
