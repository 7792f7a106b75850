"""`taskq migrate` is a one-shot step; no command starts on a database it cannot use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.system import store
from tests.system.procs import Processes, free_port

pytestmark = pytest.mark.system


def assert_one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0, f"exited 0:\n{done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, got:\n{done.stderr}"
    assert lines[0].startswith("taskq: "), lines[0]
    return lines[0]


def service_args(command: str) -> list[str]:
    return ["--port", str(free_port())] if command in ("run", "api") else []


def test_migrate_exits_0_and_running_it_again_changes_nothing(
    procs: Processes, fresh_database_url: str
) -> None:
    first = procs.run("migrate", "--database", fresh_database_url)
    assert first.returncode == 0, first.stderr
    assert "0001" in first.stdout, first.stdout
    second = procs.run("migrate", "--database", fresh_database_url)
    assert second.returncode == 0, second.stderr
    assert "already up to date" in second.stdout, second.stdout
    assert store.rows(fresh_database_url, "SELECT count(*) FROM {tasks}") == [(0,)]


def unusable_database(kind: str, tmp_path: Path) -> str:
    if kind == "path_under_a_regular_file":
        (tmp_path / "plain-file").write_text("not a directory\n")
        return str(tmp_path / "plain-file" / "tasks.db")
    if kind == "file_that_is_not_sqlite":
        (tmp_path / "garbage.db").write_bytes(b"this is not an SQLite database\n" * 100)
        return str(tmp_path / "garbage.db")
    if kind == "directory":
        (tmp_path / "a-directory").mkdir()
        return str(tmp_path / "a-directory")
    assert kind == "postgresql_on_a_closed_port"
    return f"postgresql://postgres@127.0.0.1:{free_port()}/taskq"


UNUSABLE = [
    "path_under_a_regular_file",
    "file_that_is_not_sqlite",
    "directory",
    "postgresql_on_a_closed_port",
]


@pytest.mark.parametrize("kind", UNUSABLE)
def test_migrate_on_an_unusable_database_fails_with_a_one_line_error(
    procs: Processes, tmp_path: Path, kind: str
) -> None:
    done = procs.run("migrate", "--database", unusable_database(kind, tmp_path))
    assert_one_line_failure(done)


@pytest.mark.parametrize("command", ["run", "api", "worker"])
@pytest.mark.parametrize("kind", ["path_under_a_regular_file", "postgresql_on_a_closed_port"])
def test_services_on_an_unusable_database_fail_with_a_one_line_error(
    procs: Processes, tmp_path: Path, command: str, kind: str
) -> None:
    database = unusable_database(kind, tmp_path)
    done = procs.run(command, "--database", database, *service_args(command))
    assert_one_line_failure(done)


@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_refuse_an_unmigrated_database_with_a_one_line_error(
    procs: Processes, fresh_database_url: str, command: str
) -> None:
    done = procs.run(command, "--database", fresh_database_url, *service_args(command))
    line = assert_one_line_failure(done)
    assert "taskq migrate" in line, line


def test_database_error_does_not_print_the_database_password(procs: Processes) -> None:
    database = f"postgresql://taskq:pw-s3cret@127.0.0.1:{free_port()}/taskq"
    done = procs.run("migrate", "--database", database)
    line = assert_one_line_failure(done)
    assert "pw-s3cret" not in line, f"the password is in the error: {line}"


@pytest.mark.parametrize("command", ["migrate", "run", "api", "worker"])
@pytest.mark.parametrize("url", ["mysql://u:s3cret@x/y", "redis://x", "sqlite://relative.db"])
def test_an_unsupported_database_url_is_refused_alike_by_every_command(
    procs: Processes, tmp_path: Path, command: str, url: str
) -> None:
    done = procs.run(command, "--database", url, *service_args(command), cwd=tmp_path)
    line = assert_one_line_failure(done)
    assert done.returncode == 1
    assert "unsupported database URL" in line, line
    assert "s3cret" not in line
    assert list(tmp_path.iterdir()) == [], "nothing created"


@pytest.mark.parametrize("command", ["migrate", "run"])
def test_a_password_in_the_urls_query_is_never_shown(
    procs: Processes, tmp_path: Path, command: str
) -> None:
    url = f"postgresql://taskq@127.0.0.1:{free_port()}/q?password=s3cret&sslmode=disable"
    done = procs.run(command, "--database", url, *service_args(command), cwd=tmp_path)
    line = assert_one_line_failure(done)
    assert "s3cret" not in done.stderr + done.stdout
    assert "password=***" in line, line


def test_python_dash_m_taskq_is_the_taskq_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "taskq", "migrate", "--database", str(tmp_path / "t.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "migrated" in done.stdout
