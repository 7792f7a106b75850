"""The CLI's flags are generated from Settings: one place per default, so none can drift."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from pydantic import TypeAdapter

from taskq import cli
from taskq.config import Settings

# Each command's flags as they were before they were generated; a change here is a change
# of the CLI's interface and should be deliberate.
COMMON = {
    "config",
    "database",
    "log-level",
    "log-format",
    "pg-pool-size",
    "pg-worker-commit",
    "sqlite-synchronous",
    "sqlite-worker-sync-ms",
}
HTTP = {
    "host",
    "port",
    "processes",
    "allow-anonymous",
    "cors-origins",
    "max-body-bytes",
    "max-header-bytes",
    "header-timeout-s",
    "body-timeout-s",
}
WORKER = {
    "concurrency",
    "prefetch",
    "demo-delay-ms",
    "actions",
    "queues",
    "max-attempts",
    "lease-s",
    "grace-s",
    "cancel-grace-s",
    "retention-days",
    "poll-interval-s",
}
TRACING = {"otel"}
FLAGS = {
    "migrate": COMMON,
    "api": COMMON | HTTP | TRACING,
    "worker": COMMON | WORKER | TRACING,
    "run": COMMON | HTTP | WORKER | TRACING,
}
# tables (of schedules, of queue settings): TOML or env only
NOT_FLAGS = {"cron", "queue_settings"}


def options(command: str) -> dict[str, click.Option]:
    params = cli.main.commands[command].params
    return {p.opts[0].removeprefix("--"): p for p in params if isinstance(p, click.Option)}


def from_shown(shown: str, name: str) -> object:
    """The value a ``[default: ...]`` in the help stands for, as the field's type."""
    size = re.fullmatch(r"(\d+) (KiB|MiB)", shown)
    if size:
        return int(size[1]) * {"KiB": 1 << 10, "MiB": 1 << 20}[size[2]]
    return TypeAdapter(Settings.model_fields[name].annotation).validate_python(shown)


@pytest.mark.parametrize("command", sorted(FLAGS))
def test_each_command_keeps_its_flags(command: str) -> None:
    assert set(options(command)) == FLAGS[command]


def test_every_setting_a_command_uses_is_a_flag() -> None:
    fields = {name.replace("_", "-") for name in set(Settings.model_fields) - NOT_FLAGS}
    assert fields == set(options("run")) - {"config"}


def test_flags_default_to_not_given_so_env_and_toml_apply() -> None:
    # load_settings drops None and (): only a flag on the command line outranks env and TOML
    with cli.main.commands["run"].make_context("run", []) as ctx:
        assert {k: v for k, v in ctx.params.items() if v not in (None, ())} == {}
    with cli.main.commands["run"].make_context("run", ["--port", "9"]) as ctx:
        assert {k: v for k, v in ctx.params.items() if v not in (None, ())} == {"port": 9}


@pytest.fixture(scope="module")
def run_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "taskq", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return " ".join(done.stdout.split())  # undo click's line wrapping


@pytest.mark.parametrize("name", sorted(set(Settings.model_fields) - NOT_FLAGS))
def test_run_help_shows_the_settings_default(run_help: str, name: str) -> None:
    field = Settings.model_fields[name]
    option = options("run")[name.replace("_", "-")]
    help_text = option.help or ""
    assert field.description
    assert help_text.startswith(field.description)
    assert " ".join(help_text.split()) in run_help
    shown = re.search(r"\[default: ([^\]]+)\]$", help_text)
    if field.default == []:  # an empty list says what it means in its description
        assert shown is None, help_text
        return
    assert shown, f"--{option.name}: no default in {help_text!r}"
    assert from_shown(shown[1], name) == field.default


def test_settings_defaults_read_as_before() -> None:
    # the help as an operator knew it, for a few defaults of each kind
    assert cli.shown_default("max_body_bytes") == "1 MiB"
    assert cli.shown_default("max_header_bytes") == "64 KiB"
    assert cli.shown_default("header_timeout_s") == "10"
    assert cli.shown_default("sqlite_worker_sync_ms") == "20"
    assert cli.shown_default("database") == "./data/tasks.db"
    assert cli.shown_default("queues") is None


def test_a_flag_outranks_env_which_outranks_toml(tmp_path: Path) -> None:
    (tmp_path / "taskq.toml").write_text('database = "from-toml.db"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}

    def migrate(*flags: str, **extra_env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "taskq", "migrate", *flags],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**env, **extra_env},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert migrate().startswith("migrated from-toml.db:")
    assert migrate(TASKQ_DATABASE="from-env.db").startswith("migrated from-env.db:")
    flagged = migrate("--database", "from-flag.db", TASKQ_DATABASE="from-env.db")
    assert flagged.startswith("migrated from-flag.db:")
