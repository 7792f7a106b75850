"""The driver contract for the keys table (taskq/keys.py): create, list, find, has, touch,
revoke; a taken name refused, atomically; the store never holding a key itself. Then the
same through ``Keys``, which remembers what it read for CACHE_S (a fake clock steps past
it). Every driver must pass it."""

from __future__ import annotations

import asyncio
import sqlite3
import types
from collections.abc import AsyncIterator
from typing import Any

import pytest

import taskq.keys
from taskq.drivers import is_memory_url, is_postgres_url, memory, sqlite_path
from taskq.drivers.base import Driver
from taskq.errors import TaskConflict, TaskNotFound
from taskq.keys import CACHE_S, PREFIX, TOUCH_EVERY_S, Keys, Scope, StoredKey, digest
from taskq.queue import Queue

NOW = 10_000.0


@pytest.fixture
async def driver(queue: Queue) -> AsyncIterator[Driver]:
    # the PostgreSQL database is shared by the session and emptied of tasks and workers
    # only: start, and leave, with no keys
    for key in await queue.driver.list_keys():
        await queue.driver.revoke_key(key.name)
    yield queue.driver
    for key in await queue.driver.list_keys():
        await queue.driver.revoke_key(key.name)


def stored(name: str, scope: Scope = Scope.READ, *, at: float = NOW) -> StoredKey:
    return StoredKey(name, scope, at, None, digest(f"{PREFIX}secret-of-{name}"))


def raw_rows(database_url: str) -> list[tuple[Any, ...]]:
    """Every column of every row of the keys table, read past the driver."""
    if is_memory_url(database_url):
        return [
            tuple(getattr(k, f) for f in k.__struct_fields__)
            for k in memory.stores[database_url].keys.values()
        ]
    if is_postgres_url(database_url):
        import psycopg

        with psycopg.connect(database_url) as pg:
            return list(pg.execute("SELECT * FROM taskq_keys").fetchall())
    lite = sqlite3.connect(sqlite_path(database_url))
    try:
        return lite.execute("SELECT * FROM keys").fetchall()
    finally:
        lite.close()


# the driver's verbs


async def test_a_created_key_is_listed_found_and_counted(driver: Driver) -> None:
    assert not await driver.has_keys()
    assert await driver.list_keys() == []
    key = stored("ci", Scope.SUBMIT)
    assert await driver.create_key(key)
    assert await driver.has_keys()
    assert await driver.list_keys() == [key]
    assert await driver.find_key(key.digest) == key
    assert await driver.find_key(digest(f"{PREFIX}another")) is None


async def test_keys_are_listed_by_name(driver: Driver) -> None:
    for name in ["ops", "B-team", "alpha", "a.b", "a-b", "Z9", "a_b"]:
        assert await driver.create_key(stored(name))
    assert [k.name for k in await driver.list_keys()] == sorted(
        ["ops", "B-team", "alpha", "a.b", "a-b", "Z9", "a_b"]
    )


async def test_every_scope_is_stored_as_it_was_given(driver: Driver) -> None:
    for scope in Scope:
        assert await driver.create_key(stored(scope.label, scope))
    assert {k.name: k.scope for k in await driver.list_keys()} == {s.label: s for s in Scope}
    found = await driver.find_key(stored("admin").digest)
    assert found is not None
    assert found.scope is Scope.ADMIN


async def test_a_taken_name_is_refused_and_the_first_key_left_as_it_was(driver: Driver) -> None:
    first = stored("ci", Scope.READ)
    assert await driver.create_key(first)
    second = StoredKey("ci", Scope.ADMIN, NOW + 5, None, digest(f"{PREFIX}other"))
    assert not await driver.create_key(second)
    assert await driver.list_keys() == [first]
    assert await driver.find_key(second.digest) is None


async def test_of_two_concurrent_creates_of_one_name_exactly_one_wins(
    driver: Driver, database_url: str
) -> None:
    async with Queue.connect(database_url) as other:
        candidates = [
            StoredKey("ci", scope, NOW, None, digest(f"{PREFIX}{scope.label}")) for scope in Scope
        ]
        created = await asyncio.gather(
            driver.create_key(candidates[0]),
            other.driver.create_key(candidates[1]),
            driver.create_key(candidates[2]),
        )
    assert sorted(created) == [False, False, True]
    winner = candidates[created.index(True)]
    assert await driver.list_keys() == [winner]


async def test_a_key_is_found_by_its_own_digest_among_several(driver: Driver) -> None:
    keys = [stored(f"key-{i}", Scope(1 + i % 3)) for i in range(5)]
    for key in keys:
        assert await driver.create_key(key)
    for key in keys:
        assert await driver.find_key(key.digest) == key


async def test_a_touch_sets_last_used_at(driver: Driver) -> None:
    key = stored("ci")
    await driver.create_key(key)
    await driver.create_key(stored("other"))
    await driver.touch_key("ci", now=NOW + 30.5)
    found = await driver.find_key(key.digest)
    assert found is not None
    assert found.last_used_at == NOW + 30.5
    assert found.created_at == NOW
    untouched = await driver.find_key(stored("other").digest)
    assert untouched is not None
    assert untouched.last_used_at is None
    await driver.touch_key("nobody", now=NOW)  # a key revoked meanwhile: nothing to do


async def test_a_revoked_key_is_gone_and_an_unknown_one_is_refused(driver: Driver) -> None:
    key = stored("ci")
    await driver.create_key(key)
    await driver.create_key(stored("other"))
    assert await driver.revoke_key("ci")
    assert await driver.find_key(key.digest) is None
    assert [k.name for k in await driver.list_keys()] == ["other"]
    assert not await driver.revoke_key("ci")
    assert not await driver.revoke_key("nobody")
    assert await driver.revoke_key("other")
    assert not await driver.has_keys()
    assert await driver.create_key(key), "a revoked name is free again"


async def test_the_store_keeps_the_digest_never_the_key(driver: Driver, database_url: str) -> None:
    secret = await Keys(driver).create("ci", Scope.ADMIN)
    (row,) = raw_rows(database_url)
    assert digest(secret) in row
    assert not [v for v in row if isinstance(v, str) and secret in v]
    assert not [v for v in row if isinstance(v, str) and secret.removeprefix(PREFIX) in v]


# through Keys


class Clocks:
    """A monotonic clock for Keys' cache, and a wall clock for its touches."""

    def __init__(self) -> None:
        self.monotonic = 0.0
        self.wall = 1_700_000_000.0

    def step(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += seconds


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> Clocks:
    clocks = Clocks()
    fake_time = types.SimpleNamespace(time=lambda: clocks.wall, monotonic=lambda: clocks.monotonic)
    monkeypatch.setattr(taskq.keys, "time", fake_time)
    return clocks


def keys_of(driver: Driver, clocks: Clocks) -> Keys:
    return Keys(driver, clock=lambda: clocks.monotonic)


async def test_a_key_verifies_with_its_scope(driver: Driver, clocks: Clocks) -> None:
    keys = keys_of(driver, clocks)
    secret = await keys.create("ci", Scope.SUBMIT)
    assert secret.startswith(PREFIX)
    found = await keys.verify(secret)
    assert found is not None
    assert (found.name, found.scope) == ("ci", Scope.SUBMIT)
    assert found.created_at == clocks.wall
    assert [(k.name, k.scope) for k in await keys.list()] == [("ci", Scope.SUBMIT)]
    clocks.step(CACHE_S + 1)
    other = keys_of(driver, clocks)  # another process: nothing remembered
    found = await other.verify(secret)
    assert found is not None
    assert found.scope is Scope.SUBMIT


async def test_a_wrong_key_or_one_without_the_prefix_is_refused(
    driver: Driver, clocks: Clocks
) -> None:
    keys = keys_of(driver, clocks)
    secret = await keys.create("ci", Scope.ADMIN)
    clocks.step(CACHE_S + 1)
    assert await keys.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert await keys.verify(secret.removeprefix(PREFIX)) is None
    assert await keys.verify(PREFIX) is None
    assert await keys.verify("") is None
    assert await keys.verify(secret + "x" * 200) is None
    assert await keys.verify(secret) is not None


async def test_a_revoked_key_stops_verifying_within_the_cache_time(
    driver: Driver, clocks: Clocks
) -> None:
    admin, server = keys_of(driver, clocks), keys_of(driver, clocks)
    secret = await admin.create("ci", Scope.READ)
    assert await server.verify(secret) is not None
    await admin.revoke("ci")
    assert await admin.verify(secret) is None, "the revoking process forgets at once"
    assert await server.verify(secret) is not None, "another remembers it for CACHE_S"
    clocks.step(CACHE_S)
    assert await server.verify(secret) is None
    with pytest.raises(TaskNotFound):
        await admin.revoke("ci")


async def test_a_taken_name_is_a_conflict(driver: Driver, clocks: Clocks) -> None:
    keys = keys_of(driver, clocks)
    first = await keys.create("ci", Scope.READ)
    with pytest.raises(TaskConflict):
        await keys.create("ci", Scope.ADMIN)
    found = await keys.verify(first)
    assert found is not None
    assert found.scope is Scope.READ


async def test_exist_is_false_then_true(driver: Driver, clocks: Clocks) -> None:
    keys, other = keys_of(driver, clocks), keys_of(driver, clocks)
    assert not await keys.exist()
    assert not await other.exist()
    await keys.create("ci", Scope.READ)
    assert await keys.exist(), "the creating process knows at once"
    assert not await other.exist(), "another remembers for CACHE_S"
    clocks.step(CACHE_S)
    assert await other.exist()


async def test_a_used_key_is_touched_at_most_once_per_touch_interval(
    driver: Driver, clocks: Clocks
) -> None:
    keys = keys_of(driver, clocks)
    secret = await keys.create("ci", Scope.READ)
    created = clocks.wall
    assert (await keys.list())[0].last_used_at is None
    await keys.verify(secret)
    assert (await keys.list())[0].last_used_at == created
    clocks.step(CACHE_S + 1)
    await keys.verify(secret)  # read from the store again, but touched too recently
    assert (await keys.list())[0].last_used_at == created
    clocks.step(TOUCH_EVERY_S)
    await keys.verify(secret)
    assert (await keys.list())[0].last_used_at == created + CACHE_S + 1 + TOUCH_EVERY_S
    clocks.step(1)  # still remembered: no read, no touch
    await keys.verify(secret)
    assert (await keys.list())[0].last_used_at == created + CACHE_S + 1 + TOUCH_EVERY_S
