"""What the commands look like on a terminal and off it, stats, their help, their errors
(usage, the service away or wanting a key), and the cost of ``import taskq.cli``: on SQLite
only, since none of it depends on the store."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable

import pytest
from tests.support.waiting import wait_until
from tests.system.procs import TASKQ, Processes, free_port
from tests.terminal.conftest import (
    SGR,
    Cli,
    OnTty,
    colour_codes,
    finished,
    one_line,
    post,
    start_service,
)

import taskq

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def module_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """How things are drawn does not depend on the store: SQLite only, here."""
    url = str(tmp_path_factory.mktemp("cli-db") / "tasks.db")
    taskq.migrate(url)
    return url


def test_off_a_terminal_there_is_no_escape_sequence(cli: Cli, queue: str) -> None:
    task_id = post(cli.url, "explode", {"n": 1}, queue=queue)
    finished(cli.url, task_id)

    for args in (("ls", "--queue", queue), ("show", task_id), ("stats",)):
        done = cli(*args)
        assert "\x1b" not in done.stdout + done.stderr, args


def test_on_a_terminal_statuses_have_colours_unless_no_color(
    cli: Cli, queue: str, on_tty: Callable[..., OnTty]
) -> None:
    finished(cli.url, post(cli.url, "uppercase", queue=queue))

    coloured = on_tty("ls", "--queue", queue)
    assert coloured.finish() == 0
    plain = on_tty("ls", "--queue", queue, NO_COLOR="1")
    assert plain.finish() == 0

    assert "completed" in coloured.text
    assert colour_codes(coloured.text), coloured.text
    assert "completed" in plain.text
    assert colour_codes(plain.text) == []


def test_on_a_terminal_the_table_fits_its_width(
    cli: Cli, queue: str, on_tty: Callable[..., OnTty]
) -> None:
    finished(cli.url, post(cli.url, "explode", {"n": "a" * 300}, queue=queue))

    shown = on_tty("ls", "--queue", queue, NO_COLOR="1")
    assert shown.finish() == 0

    text = SGR.sub("", shown.text).replace("\r", "")
    lines = [line for line in text.split("\n") if line.strip()]
    assert any("failed" in line for line in lines)
    assert max(len(line) for line in lines) <= 120  # the pty is 120 columns wide


def test_submit_wait_shows_a_spinner_on_a_terminal_only(
    cli: Cli, on_tty: Callable[..., OnTty]
) -> None:
    waiting = on_tty("submit", "uppercase", '{"text": "spin"}', "--delay", "0.5", "--wait")
    assert waiting.finish() == 0
    assert "waiting for" in waiting.text
    assert "SPIN" in waiting.text

    piped = cli("submit", "uppercase", '{"text": "spin"}', "--delay", "0.3", "--wait")
    assert piped.returncode == 0
    assert "waiting for" not in piped.stdout + piped.stderr


def test_ls_watch_redraws_until_ctrl_c(cli: Cli, queue: str, on_tty: Callable[..., OnTty]) -> None:
    first = post(cli.url, "uppercase", queue=queue, delay=60)
    watching = on_tty("ls", "--queue", queue, "--watch", "--interval", "0.2")
    watching.read_until(lambda text: first in text)

    second = post(cli.url, "uppercase", queue=queue, delay=60)
    watching.read_until(lambda text: second in text)  # drawn again, with the new task
    watching.interrupt()

    assert watching.finish() == 0
    assert "Traceback" not in watching.text
    assert "Ctrl-C to stop" in watching.text


def test_stats_shows_counts_throughput_and_queues(cli: Cli, queue: str) -> None:
    finished(cli.url, post(cli.url, "uppercase", queue=queue))

    shown = cli.ok("stats")

    for heading in ("tasks by status", "completed", "p95", "1 min", "15 min", "queues"):
        assert heading in shown
    assert queue in shown


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("submit", "sum", "{numbers: 1}"), "taskq: DATA_JSON is not JSON: "),
        (("submit", "sum", "[1, 2]"), "taskq: DATA_JSON must be a JSON object, not an array"),
        (("submit", "sum", "--queue", "x" * 101), "taskq: queue must be 1 to 100 characters"),
        (("submit",), "taskq: give the ACTION to run (or --file)"),
        (("ls", "--watch", "--json"), "taskq: --watch redraws a table"),
    ],
)
def test_a_usage_error_exits_2_with_one_line(cli: Cli, args: tuple[str, ...], said: str) -> None:
    done = cli(*args)

    assert done.returncode == 2
    assert one_line(done.stderr).startswith(said)
    assert done.stdout == ""


def test_an_unknown_task_exits_1_with_the_apis_error(cli: Cli) -> None:
    done = cli("show", str(uuid.uuid4()))

    assert done.returncode == 1
    assert one_line(done.stderr) == "taskq: task not found"


def test_no_service_exits_1_with_one_line_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    done = Cli(url)("ls")

    assert done.returncode == 1
    assert one_line(done.stderr).startswith(f"taskq: cannot reach the service at {url}: ")


def test_a_bad_url_is_a_usage_error() -> None:
    done = Cli("localhost:8080")("ls")

    assert done.returncode == 2
    assert "not an http:// or https:// URL" in done.stderr


def test_once_a_key_exists_the_commands_need_it_and_never_show_it(
    procs: Processes, migrated_sqlite_url: str
) -> None:
    service = start_service(procs, migrated_sqlite_url)
    made = procs.run(
        "keys", "create", "--name", "cli", "--scope", "admin", "--database", migrated_sqlite_url
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    cli = Cli(service.url)

    refused = wait_until(
        lambda: (done := cli("ls")).returncode == 1 and done,
        10,
        what="ls refused without a key",
    )
    assert one_line(refused.stderr) == (
        "taskq: an API key is needed: send 'Authorization: Bearer <key>';"
        " give one with --api-key or TASKQ_API_KEY"
    )

    done = cli("submit", "uppercase", '{"text": "key"}', "--wait", TASKQ_API_KEY=key)
    assert done.returncode == 0, done.stderr
    assert "KEY" in done.stdout
    task_id = done.stdout.split()[0]
    assert cli("show", task_id, "--api-key", key).returncode == 0
    wrong = cli("show", task_id, "--api-key", "tq_" + "x" * 43)
    assert wrong.returncode == 1
    assert "not valid" in one_line(wrong.stderr)
    for shown in (done, wrong, cli("--help"), cli("ls", "--help", TASKQ_API_KEY=key)):
        assert key not in shown.stdout + shown.stderr


@pytest.mark.parametrize("command", ["submit", "ls", "show", "cancel", "retry", "stats"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    done = subprocess.run(
        [TASKQ, command, "--help"], capture_output=True, text=True, timeout=30, check=False
    )

    assert done.returncode == 0
    assert "Example" in done.stdout
    assert f"taskq {command}" in done.stdout.split("Example", 1)[1]
    assert "TASKQ_URL" in done.stdout


def test_import_taskq_cli_loads_neither_rich_nor_the_client() -> None:
    probe = (
        "import sys, taskq.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'httpx') "
        "or m.startswith('taskq.client') or m == 'taskq.terminal.render'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
