"""The PostgreSQL driver's verbs on the keys table (taskq/keys.py), each a function of its
connection pool."""

from __future__ import annotations

from taskq.drivers import rows
from taskq.drivers.postgres.connection import Connections
from taskq.drivers.rows import KEY_COLUMNS
from taskq.drivers.statements import load
from taskq.keys import StoredKey

SQL = load("taskq.drivers.postgres")
LIST_KEYS = SQL["list_keys"].format(key_columns=KEY_COLUMNS)
FIND_KEY = SQL["find_key"].format(key_columns=KEY_COLUMNS)


async def create(db: Connections, key: StoredKey) -> bool:
    """Whether ``key`` was stored (not if its name is taken)."""
    return await db.rowcount(SQL["create_key"], rows.key_args(key)) == 1


async def list_all(db: Connections) -> list[StoredKey]:
    return [rows.row_to_key(row) for row in await db.fetchall(LIST_KEYS)]


async def find(db: Connections, digest: str) -> StoredKey | None:
    row = await db.fetchone(FIND_KEY, (digest,))
    return None if row is None else rows.row_to_key(row)


async def has_any(db: Connections) -> bool:
    row = await db.fetchone(SQL["has_keys"])
    return row is not None and bool(row[0])


async def touch(db: Connections, name: str, now: float) -> None:
    await db.rowcount(SQL["touch_key"], {"name": name, "now": now})


async def revoke(db: Connections, name: str) -> bool:
    return await db.rowcount(SQL["revoke_key"], (name,)) == 1
