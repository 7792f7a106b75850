"""Enqueue inside the application's own transaction (issue 17): ``Queue.enqueue(...,
connection=conn)`` stores the task through the caller's open connection, so it exists if
and only if that transaction commits; workers wake, and the dashboard hears "submitted",
only once it has. Real SQLite files and the real PostgreSQL, with a real worker."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from tests.support.heard import Heard
from tests.support.waiting import until, until_terminal
from tests.support.worker import actions, is_waiting_for_work, running

from taskq.queue import KeyReused, Queue
from taskq.task import NewTask, Status

# The worker polls this seldom: only the wake-up at the commit explains a quick start.
POLL_S = 30.0
STARTED_WITHIN_S = 0.5
# the application's own connection: to SQLite, or to PostgreSQL with psycopg's async or
# sync connection
KINDS = ["sqlite", "postgres", "postgres-sync"]


class Own:
    """The application's own connection to the store's database, outside taskq."""

    def __init__(self, kind: str, raw: Any) -> None:
        self.kind = kind
        self.raw = raw

    @classmethod
    async def open(cls, kind: str, url: str, *, autocommit: bool = False) -> Own:
        if kind == "sqlite":
            # Python's default: a transaction opens before the first INSERT
            return cls(kind, sqlite3.connect(url, isolation_level=None if autocommit else ""))
        if kind == "postgres":
            return cls(kind, await psycopg.AsyncConnection.connect(url, autocommit=autocommit))
        return cls(kind, psycopg.Connection.connect(url, autocommit=autocommit))

    async def execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows ``sql`` returns (written with ``?`` placeholders for every kind)."""
        if self.kind == "sqlite":
            return list(self.raw.execute(sql, args).fetchall())
        sql = sql.replace("?", "%s")
        if self.kind == "postgres":
            cur = await self.raw.execute(sql, args)
            return list(await cur.fetchall()) if cur.description else []
        cur = self.raw.execute(sql, args)
        return list(cur.fetchall()) if cur.description else []

    async def commit(self) -> None:
        if self.kind == "postgres":
            await self.raw.commit()
        else:
            self.raw.commit()

    async def rollback(self) -> None:
        if self.kind == "postgres":
            await self.raw.rollback()
        else:
            self.raw.rollback()

    async def close(self) -> None:
        if self.kind == "postgres":
            await self.raw.close()
        else:
            self.raw.close()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, request: pytest.FixtureRequest) -> str:
    store = "sqlite" if kind == "sqlite" else "postgres"
    return str(request.getfixturevalue(f"migrated_{store}_url"))


@pytest.fixture
async def queue(url: str) -> AsyncIterator[Queue]:
    async with Queue.connect(url) as q:
        yield q


@pytest.fixture
async def own(kind: str, url: str) -> AsyncIterator[Own]:
    conn = await Own.open(kind, url)
    # the application's own table, beside taskq's in the same database
    await conn.execute("CREATE TABLE IF NOT EXISTS orders (item TEXT PRIMARY KEY)")
    await conn.commit()
    try:
        yield conn
    finally:
        await conn.close()


async def watched_out(queue: Queue) -> None:
    """Wait until the queue no longer watches any enqueue's transaction."""
    await until(lambda: not queue._watchers, 5, what="the transactions to be settled")


async def test_a_committed_task_exists_and_runs_woken_at_the_commit(
    queue: Queue, own: Own, heard: Heard
) -> None:
    item = uuid.uuid4().hex
    async with running(queue, actions(), poll_interval_s=POLL_S):
        await until(is_waiting_for_work, 5, what="the worker to be idle, waiting up to 30 s")
        await own.execute("INSERT INTO orders (item) VALUES (?)", (item,))
        task = await queue.enqueue("uppercase", {"text": item}, connection=own.raw)
        assert task.status is Status.QUEUED
        assert await queue.get(task.id) is None  # not committed: no one else sees it
        assert is_waiting_for_work()
        await own.commit()
        committed_at = time.time()
        done = await until_terminal(queue, task.id, timeout_s=5)
    assert done.status is Status.COMPLETED
    assert done.result == {"output": item.upper()}
    assert done.started_at is not None
    assert done.started_at - committed_at < STARTED_WITHIN_S
    assert await own.execute("SELECT item FROM orders WHERE item = ?", (item,)) == [(item,)]
    # told once the commit is seen (within ~10 ms): maybe after the worker's "started"
    await until(lambda: "submitted" in heard.kinds(task.id), 5, what="submitted heard")
    assert heard.kinds(task.id).count("submitted") == 1


async def test_a_rolled_back_task_never_exists_nor_is_told_nor_run(
    queue: Queue, own: Own, heard: Heard
) -> None:
    item = uuid.uuid4().hex
    async with running(queue, actions()):
        await own.execute("INSERT INTO orders (item) VALUES (?)", (item,))
        task = await queue.enqueue("uppercase", {"text": item}, connection=own.raw)
        await own.rollback()
        await watched_out(queue)
        # the worker keeps claiming: a task after the rollback runs, the rolled-back never
        sentinel = await queue.enqueue("uppercase", {"text": "after"})
        assert (await until_terminal(queue, sentinel.id)).status is Status.COMPLETED
        await until(lambda: heard.kinds(sentinel.id), 5, what="the sentinel heard")
    assert await queue.get(task.id) is None
    assert heard.kinds(task.id) == []
    assert await own.execute("SELECT item FROM orders WHERE item = ?", (item,)) == []
    assert (await queue.counts())[Status.COMPLETED] == 1


async def test_many_tasks_commit_together_or_not_at_all(queue: Queue, own: Own) -> None:
    kept = [NewTask(action="uppercase", data={"text": str(i)}) for i in range(3)]
    dropped = [NewTask(action="uppercase", data={"text": str(i)}) for i in range(3)]
    stored = await queue.enqueue_many(kept, connection=own.raw)
    await own.commit()
    await queue.enqueue_many(dropped, connection=own.raw)
    await own.rollback()
    await watched_out(queue)
    found = await queue.tasks_by_id([t.id for t in kept + dropped])
    assert {t.id for t in found} == {t.id for t in kept}
    assert [t.seq for t in sorted(found, key=lambda t: t.seq)] == [t.seq for t in stored]


async def test_an_idempotency_key_is_read_in_the_transaction(queue: Queue, own: Own) -> None:
    first = await queue.enqueue("uppercase", {"text": "a"}, idempotency_key="k", connection=own.raw)
    # the key is only taken in this transaction: the same call again finds that task
    again = await queue.enqueue("uppercase", {"text": "a"}, idempotency_key="k", connection=own.raw)
    assert (again.id, again.seq) == (first.id, first.seq)
    with pytest.raises(KeyReused):
        await queue.enqueue("uppercase", {"text": "b"}, idempotency_key="k", connection=own.raw)
    assert await queue.get(first.id) is None
    await own.commit()
    stored = await queue.get(first.id)
    assert stored is not None
    assert stored.idempotency_key == "k"
    # committed now: a plain enqueue with the key finds it too
    plain = await queue.enqueue("uppercase", {"text": "a"}, idempotency_key="k")
    assert plain.id == first.id


async def test_a_unique_key_holds_in_the_transaction_and_against_stored_tasks(
    queue: Queue, own: Own
) -> None:
    held = await queue.enqueue("uppercase", {"text": "a"}, unique_key="u1")
    answered = await queue.enqueue("uppercase", {"text": "b"}, unique_key="u1", connection=own.raw)
    assert answered.id == held.id
    mine = await queue.enqueue("uppercase", unique_key="u2", connection=own.raw)
    again = await queue.enqueue("uppercase", unique_key="u2", connection=own.raw)
    assert again.id == mine.id
    await own.commit()
    stored = await queue.get(mine.id)
    assert stored is not None
    assert stored.unique_key == "u2"


async def test_a_key_stored_before_returns_the_stored_task(queue: Queue, own: Own) -> None:
    before = await queue.enqueue("uppercase", {"text": "a"}, idempotency_key="k2")
    found = await queue.enqueue(
        "uppercase", {"text": "a"}, idempotency_key="k2", connection=own.raw
    )
    assert (found.id, found.created_at) == (before.id, before.created_at)
    await own.rollback()
    assert await queue.get(before.id) is not None


async def test_without_a_transaction_the_task_is_committed_at_once(
    queue: Queue, kind: str, url: str, heard: Heard
) -> None:
    conn = await Own.open(kind, url, autocommit=True)
    try:
        async with running(queue, actions(), poll_interval_s=POLL_S):
            await until(is_waiting_for_work, 5, what="the worker to be idle")
            task = await queue.enqueue("uppercase", {"text": "x"}, connection=conn.raw)
            committed_at = time.time()
            assert await queue.get(task.id) is not None
            done = await until_terminal(queue, task.id, timeout_s=5)
    finally:
        await conn.close()
    assert done.started_at is not None
    assert done.started_at - committed_at < STARTED_WITHIN_S
    # told once the commit is seen (within ~10 ms): maybe after the worker's "started"
    await until(lambda: "submitted" in heard.kinds(task.id), 5, what="submitted heard")
    assert heard.kinds(task.id).count("submitted") == 1


async def test_a_connection_of_another_kind_is_a_type_error(queue: Queue, kind: str) -> None:
    other: Any = sqlite3.connect(":memory:") if kind != "sqlite" else object()
    with pytest.raises(TypeError, match="enqueues through a"):
        await queue.enqueue("uppercase", connection=other)
    with pytest.raises(TypeError, match="enqueues through a"):
        await queue.enqueue("uppercase", connection="postgresql://")


async def test_a_sqlite_connection_to_another_file_is_refused(
    migrated_sqlite_url: str, tmp_path: Any
) -> None:
    other = sqlite3.connect(str(tmp_path / "app.db"))
    memory = sqlite3.connect(":memory:")
    async with Queue.connect(migrated_sqlite_url) as queue:
        for conn in (other, memory):
            with pytest.raises(ValueError, match="not to taskq's"):
                await queue.enqueue("uppercase", connection=conn)
        assert (await queue.counts())[Status.QUEUED] == 0
    other.close()
    memory.close()


async def test_the_memory_store_has_no_connection_to_share(migrated_memory_url: str) -> None:
    async with Queue.connect(migrated_memory_url) as queue:
        with pytest.raises(TypeError, match="has no connection to share"):
            await queue.enqueue("uppercase", connection=sqlite3.connect(":memory:"))


async def test_an_open_transaction_does_not_outlive_the_queue(url: str, kind: str) -> None:
    own = await Own.open(kind, url)
    try:
        async with Queue.connect(url) as queue:
            await queue.enqueue("uppercase", connection=own.raw)
            assert queue._watchers
        assert not queue._watchers  # close() ended the watcher, the transaction left open
        await own.rollback()
    finally:
        await own.close()
