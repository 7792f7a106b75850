"""Settings: defaults, then TOML, then env, then flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from taskq.config import load_settings
from taskq.drivers.sqlite import SqliteDriver
from taskq.queue import Queue


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("TASKQ_CONFIG", "TASKQ_PORT", "TASKQ_DEMO_DELAY_MS", "TASKQ_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./taskq.toml


def test_defaults_are_the_seeds() -> None:
    s = load_settings()
    assert (s.port, s.database, s.concurrency, s.prefetch, s.demo_delay_ms) == (
        8080,
        "./data/tasks.db",
        2,
        5,
        100,
    )
    assert s.max_body_bytes == 1024 * 1024
    assert s.sqlite_synchronous == "FULL"


def test_precedence_is_flags_then_env_then_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "taskq.toml").write_text('port = 7000\nconcurrency = 4\nactions = ["a"]\n')
    monkeypatch.setenv("TASKQ_CONCURRENCY", "6")
    monkeypatch.setenv("TASKQ_DEMO_DELAY_MS", "5")
    s = load_settings(demo_delay_ms=9)
    assert (s.port, s.concurrency, s.demo_delay_ms, s.actions) == (7000, 6, 9, ["a"])


def test_env_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKQ_ACTIONS", "app.tasks, app.more")
    assert load_settings().actions == ["app.tasks", "app.more"]


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(str(tmp_path / "missing.toml"))
    other = tmp_path / "other.toml"
    other.write_text("port = 9999\n")
    assert load_settings(str(other)).port == 9999


@pytest.mark.parametrize(
    "bad", [{"concurrency": 0}, {"port": 70000}, {"prefetch": -1}, {"log_format": "xml"}]
)
def test_invalid_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        load_settings(**bad)


def test_unknown_toml_keys_are_refused(tmp_path: Path) -> None:
    (tmp_path / "taskq.toml").write_text("prot = 1\n")
    with pytest.raises(ValidationError):
        load_settings()


def test_sqlite_worker_sync_reaches_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().sqlite_worker_sync_ms == 20
    monkeypatch.setenv("TASKQ_SQLITE_WORKER_SYNC_MS", "0")
    driver = Queue.from_settings(load_settings(database="x.db")).driver
    assert isinstance(driver, SqliteDriver)
    assert driver.worker_sync_ms == 0
    with pytest.raises(ValidationError):
        load_settings(sqlite_worker_sync_ms=-1)
