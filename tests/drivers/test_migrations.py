"""Migrations: idempotent, safe when several processes start at once, strict on versions."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import taskq
from taskq import migrations
from taskq.errors import SchemaMismatch, StoreUnavailable

DIALECT_URLS = ["sqlite_url", "postgres_url"]


@pytest.fixture(params=DIALECT_URLS)
def fresh_url(request: pytest.FixtureRequest) -> str:
    """An empty, unmigrated database of each dialect."""
    url: str = request.getfixturevalue(request.param)
    return url


def test_migrate_applies_everything_once(fresh_url: str) -> None:
    applied = taskq.migrate(fresh_url)
    assert applied[0] == "0001.tasks"
    assert applied == sorted(applied)
    assert taskq.migrate(fresh_url) == []
    migrations.check(fresh_url)


def test_check_refuses_a_database_behind(fresh_url: str) -> None:
    with pytest.raises(SchemaMismatch, match="run `taskq migrate` first"):
        migrations.check(fresh_url)


def test_check_refuses_a_database_ahead(fresh_url: str) -> None:
    taskq.migrate(fresh_url)
    with migrations._backend(fresh_url) as backend, backend.transaction():
        backend.execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
            "VALUES ('f00d', '9999.from-the-future', CURRENT_TIMESTAMP)"
        )
    with pytest.raises(SchemaMismatch, match="newer schema than this taskq"):
        migrations.check(fresh_url)
    with pytest.raises(SchemaMismatch, match="newer schema"):
        taskq.migrate(fresh_url)


def test_concurrent_migrators_all_succeed_and_apply_once(fresh_url: str) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "taskq.cli", "migrate", "--database", fresh_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run(), range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    outputs = [r.stdout for r in results]
    assert sum("0001.tasks" in out for out in outputs) == 1, outputs
    migrations.check(fresh_url)


def test_a_dead_migrators_lock_does_not_block(fresh_url: str) -> None:
    taskq.migrate(fresh_url)  # creates yoyo's lock table
    with migrations._backend(fresh_url) as backend, backend.transaction():
        backend.execute(
            "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, CURRENT_TIMESTAMP, 999999)"
        )
    assert taskq.migrate(fresh_url) == []


def test_an_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open database"):
        taskq.migrate("postgresql://nobody@127.0.0.1:1/none")
    blocker = tmp_path / "a-file"
    blocker.touch()
    with pytest.raises(StoreUnavailable):
        taskq.migrate(str(blocker / "tasks.db"))
