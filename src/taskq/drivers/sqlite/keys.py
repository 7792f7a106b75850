"""The SQLite driver's verbs on the keys table (taskq/keys.py), each as one function on a
connection (the driver runs them on its writer or reader)."""

from __future__ import annotations

import sqlite3

from taskq.drivers import rows
from taskq.drivers.rows import KEY_COLUMNS
from taskq.drivers.statements import load
from taskq.keys import StoredKey

SQL = load("taskq.drivers.sqlite")
LIST_KEYS = SQL["list_keys"].format(key_columns=KEY_COLUMNS)
FIND_KEY = SQL["find_key"].format(key_columns=KEY_COLUMNS)


def create(conn: sqlite3.Connection, key: StoredKey) -> bool:
    """Whether ``key`` was stored (not if its name is taken)."""
    return conn.execute(SQL["create_key"], rows.key_args(key)).rowcount == 1


def list_all(conn: sqlite3.Connection) -> list[StoredKey]:
    return [rows.row_to_key(row) for row in conn.execute(LIST_KEYS).fetchall()]


def find(conn: sqlite3.Connection, digest: str) -> StoredKey | None:
    row = conn.execute(FIND_KEY, (digest,)).fetchone()
    return None if row is None else rows.row_to_key(row)


def has_any(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute(SQL["has_keys"]).fetchone()[0])


def touch(conn: sqlite3.Connection, name: str, now: float) -> None:
    conn.execute(SQL["touch_key"], {"name": name, "now": now})


def revoke(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute(SQL["revoke_key"], (name,)).rowcount == 1
