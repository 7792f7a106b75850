"""``taskq submit | ls | show | cancel | retry | stats`` against a real ``taskq run`` (SQLite
and PostgreSQL), run as the user runs them: the ``taskq`` script, output through pipes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from tests.system.procs import TaskqProcess
from tests.terminal.conftest import Cli, finished, one_line, post

pytestmark = pytest.mark.system

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def stored(service: TaskqProcess, task_id: str) -> dict[str, object]:
    response = httpx.get(f"{service.url}/tasks/{task_id}", timeout=5)
    assert response.status_code == 200, response.text
    task: dict[str, object] = response.json()
    return task


def test_submit_prints_the_id_of_the_stored_task(
    cli: Cli, service: TaskqProcess, queue: str
) -> None:
    out = cli.ok("submit", "uppercase", '{"text": "hi"}', "--queue", queue, "--priority", "3")

    task_id = out.strip()
    assert UUID.match(task_id), out
    task = stored(service, task_id)
    assert task["payload"] == {"text": "hi"}
    assert (task["queue"], task["priority"]) == (queue, 3)


def test_submit_with_a_held_unique_key_prints_the_holder_and_says_so(
    cli: Cli, service: TaskqProcess, queue: str
) -> None:
    first = cli.ok("submit", "noop", "--queue", queue, "--delay", "3600", "--unique-key", "k:1")
    again = cli("submit", "noop", "--queue", queue, "--unique-key", "k:1")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first
    assert "k:1 is held by this queued task" in again.stderr
    assert stored(service, first.strip())["unique_key"] == "k:1"
    shown = cli.ok("show", first.strip())
    assert "unique key" in shown
    assert "k:1" in shown


def test_submit_with_a_concurrency_key_stores_it_and_show_says_it(
    cli: Cli, service: TaskqProcess, queue: str
) -> None:
    out = cli.ok("submit", "noop", "--queue", queue, "--delay", "3600", "--concurrency-key", "c:1")
    assert stored(service, out.strip())["concurrency_key"] == "c:1"
    shown = cli.ok("show", out.strip())
    assert "concurrency key" in shown
    assert "c:1" in shown


def test_submit_wait_on_uppercase_exits_0_and_prints_the_result(cli: Cli) -> None:
    done = cli("submit", "uppercase", '{"text": "hello world"}', "--wait")

    assert done.returncode == 0, done.stderr
    task_id, *rest = done.stdout.splitlines()
    assert UUID.match(task_id)
    assert "completed" in rest[0]
    assert "HELLO WORLD" in done.stdout
    assert "\x1b" not in done.stdout + done.stderr  # not a terminal: no colour, no spinner


def test_submit_wait_on_a_failing_sum_exits_1_with_its_error(cli: Cli) -> None:
    done = cli("submit", "sum", '{"numbers": ["a"]}', "--wait")

    assert done.returncode == 1, done.stderr
    assert "failed" in done.stdout
    assert "sum: data.numbers must be a list of numbers" in done.stdout


def test_a_wait_that_times_out_exits_2_and_the_task_goes_on(
    cli: Cli, service: TaskqProcess
) -> None:
    args = ("submit", "uppercase", "--delay", "30", "--wait", "--wait-timeout", "0.3")
    done = cli(*args)

    assert done.returncode == 2, done.stderr
    task_id = done.stdout.strip()
    assert "is still queued after waiting 0.3 s" in one_line(done.stderr)
    assert stored(service, task_id)["status"] == "queued"


def test_every_json_output_parses(cli: Cli, queue: str) -> None:
    accepted = json.loads(
        cli.ok("submit", "uppercase", '{"text": "a"}', "--queue", queue, "--json")
    )
    finished = json.loads(
        cli.ok("submit", "sum", '{"numbers": [1, 2]}', "--queue", queue, "--wait", "--json")
    )
    shown = json.loads(cli.ok("show", accepted["id"], "--json"))
    listed = [json.loads(line) for line in cli.ok("ls", "--queue", queue, "--json").splitlines()]
    figures = json.loads(cli.ok("stats", "--json"))

    assert accepted["status"] == "queued"
    assert finished["status"] == "completed"
    assert finished["result"] == {"output": 3}
    assert shown["id"] == accepted["id"]
    assert shown["payload"] == {"text": "a"}
    assert [t["id"] for t in listed] == [finished["id"], accepted["id"]]  # newest first
    assert set(figures) == {"stats", "queues"}
    assert set(figures["stats"]["counts"]) == {
        "queued",
        "running",
        "completed",
        "failed",
        "cancelled",
    }
    assert queue in [q["name"] for q in figures["queues"]["queues"]]


def test_ls_shows_the_tasks_and_filters_by_status_and_queue(
    cli: Cli, service: TaskqProcess, queue: str
) -> None:
    other = f"{queue}-other"
    good = post(service.url, "uppercase", {"text": "x"}, queue=queue)
    bad = post(service.url, "sum", {"numbers": ["a"]}, queue=queue)
    elsewhere = post(service.url, "sum", {"numbers": [1]}, queue=other, delay=60)
    finished(service.url, good), finished(service.url, bad)

    table = cli.ok("ls", "--queue", queue)
    rows = {line.split()[0]: line for line in table.splitlines() if UUID.match(line.split()[0])}
    assert set(rows) == {good, bad}
    assert "completed" in rows[good]
    assert "failed" in rows[bad]
    assert "sum: da" in rows[bad]  # the error, cut to the width
    assert all(len(line) <= 80 for line in table.splitlines())  # off a terminal: 80 wide

    failed = cli.ok("ls", "--queue", queue, "--status", "failed", "--json").splitlines()
    assert [json.loads(line)["id"] for line in failed] == [bad]
    sums = cli.ok("ls", "--queue", queue, "--queue", other, "--action", "sum", "--json")
    assert [json.loads(line)["id"] for line in sums.splitlines()] == [elsewhere, bad]


def test_show_prints_every_attempts_traceback(cli: Cli) -> None:
    done = cli("submit", "explode", '{"n": 7}', "--wait")
    assert done.returncode == 1
    task_id = done.stdout.split()[0]
    assert f"taskq show {task_id}" in done.stdout  # where the traceback is

    shown = cli.ok("show", task_id)

    assert "RuntimeError: boom 7" in shown
    assert "Traceback (most recent call last)" in shown
    assert "cli_actions.py" in shown  # the frame that raised
    assert "attempt 1 failed" in shown
    assert '"n": 7' in shown  # the payload
    for step in ("created", "attempt 1 started", "failed"):  # the timeline
        assert step in shown


def test_cancel_and_retry(cli: Cli, service: TaskqProcess, queue: str) -> None:
    task_id = post(service.url, "uppercase", queue=queue, delay=60)
    other_id = post(service.url, "uppercase", queue=queue, delay=60)
    done = post(service.url, "uppercase", queue=queue)

    assert cli.ok("cancel", task_id).strip() == f"{task_id} cancelled"
    assert stored(service, task_id)["status"] == "cancelled"
    cancelled = json.loads(cli.ok("cancel", other_id, "--json"))
    assert (cancelled["id"], cancelled["status"]) == (other_id, "cancelled")

    assert cli.ok("retry", task_id).strip() == f"{task_id} queued again"
    assert stored(service, task_id)["status"] != "cancelled"  # due at once: it may run now
    retried = json.loads(cli.ok("retry", other_id, "--json"))
    assert retried == {"id": other_id, "status": "queued", "created": False}

    finished(service.url, done)
    too_late = cli("cancel", done)
    assert too_late.returncode == 1
    assert one_line(too_late.stderr) == f"taskq: task {done} is already completed"


def test_submit_file_stores_2500_tasks_in_batches(
    cli: Cli, service: TaskqProcess, queue: str, tmp_path: Path
) -> None:
    lines = [json.dumps({"action": "noop", "data": {"i": i}, "delay": 600}) for i in range(2500)]
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("\n".join(lines) + "\n\n")  # a blank line is skipped

    done = cli("submit", "--file", str(tasks_file), "--queue", queue)

    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    assert len(ids) == len(set(ids)) == 2500
    assert "submitted 2,500 tasks" in one_line(done.stderr)
    listed = cli.ok("ls", "--queue", queue, "--limit", "0", "--json").splitlines()
    assert len(listed) == 2500
    assert {json.loads(line)["queue"] for line in listed} == {queue}  # the --queue default
    assert stored(service, ids[-1])["payload"] == {"i": 2499}  # in the file's order


def test_a_bad_line_in_a_file_is_named_and_nothing_is_sent(
    cli: Cli, queue: str, tmp_path: Path
) -> None:
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text('{"action": "noop"}\n{"data": {}}\n')

    done = cli("submit", "--file", str(tasks_file), "--queue", queue)

    assert done.returncode == 2
    assert one_line(done.stderr) == f'taskq: {tasks_file} line 2: "action" (a string) is required'
    assert cli.ok("ls", "--queue", queue, "--json") == ""


def test_a_line_the_service_refuses_is_named_by_its_line_number(
    cli: Cli, queue: str, tmp_path: Path
) -> None:
    lines = ['{"action": "noop", "delay": 600}'] * 1001 + ['{"action": "noop", "priority": 1.5}']
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text("\n".join(lines))

    done = cli("submit", "--file", str(tasks_file), "--queue", queue)

    assert done.returncode == 2
    line = one_line(done.stderr)
    assert line.startswith(f"taskq: {tasks_file} line 1002: "), line
    assert "priority" in line
    assert "the 1,000 tasks before line 1001 were stored, none after" in line
    assert len(cli.ok("ls", "--queue", queue, "--limit", "0", "--json").splitlines()) == 1000


def test_submit_reads_a_file_from_stdin(cli: Cli, queue: str) -> None:
    done = cli("submit", "--file", "-", "--queue", queue, "--json", stdin='{"action": "noop"}\n')

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "queued"
