"""``taskq submit | ls | show | cancel | retry | stats``: a running service, from a shell.

Exit status: 0 done; 1 the service refused (not found, conflict, no key), could not be
reached, or the awaited task failed or was cancelled; 2 a usage error (bad arguments, bad
JSON, a request the service found invalid) or a wait that timed out. Errors are one line on
stderr, ``taskq: …``, never a traceback.

rich and the client are imported inside the commands: ``import taskq.cli`` stays light.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, TYPE_CHECKING, Any

import click

from taskq.task import Status
from taskq.terminal.options import as_json, connection

if TYPE_CHECKING:
    from rich.console import Console

    from taskq.client import Client, ClientError, Submission

OK, FAILED, USAGE = 0, 1, 2
INTERRUPTED = 130
STATUSES = [status.value for status in Status]
# Fewer than the client's default: a person at a terminal would rather hear at once that
# the service is away (a connection refused gives up after about half a second).
RETRIES = 2
BATCH = 1000  # tasks per POST /tasks/batch, the most it takes
SUBMISSION_FIELDS = frozenset(
    {"action", "data", "queue", "priority", "max_attempts", "timeout", "delay", "run_at"}
    | {"unique_key", "concurrency_key"}
)


class Refused(click.ClickException):
    """One line on stderr, ``taskq: <message>``, and exit status 1."""

    exit_code = FAILED

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"taskq: {self.message}", err=True)


class Misused(Refused):
    """A usage error: bad arguments or JSON, a request the service found invalid, a wait
    that timed out (exit status 2)."""

    exit_code = USAGE


class Interrupted(Refused):
    """Ctrl-C while waiting (exit status 130, as a shell reports SIGINT)."""

    exit_code = INTERRUPTED


@contextlib.contextmanager
def talking_to(url: str, api_key: str | None) -> Iterator[Client]:
    """A client of the service at ``url``; its errors become one ``Refused`` line."""
    from taskq.client import Client, ClientError

    try:
        with Client(url, api_key=api_key, retries=RETRIES) as client:
            yield client
    except ClientError as error:
        raise _refusal(error)(_explain(error, url, has_key=bool(api_key))) from None


def _explain(error: ClientError, url: str, *, has_key: bool) -> str:
    from taskq.client import ConnectionFailed, Unauthorized, Unavailable

    said = error.error + (f" (field {error.field})" if error.field else "")
    if isinstance(error, ConnectionFailed):
        return f"cannot reach the service at {url}: {error.error}"
    if isinstance(error, Unavailable):
        return f"the service at {url} is unavailable: {said}"
    if isinstance(error, Unauthorized) and not has_key:
        return f"{said}; give one with --api-key or TASKQ_API_KEY"
    return said


def _refusal(error: ClientError) -> type[Refused]:
    """The service refused what was typed (400, 422): a usage error; anything else: 1."""
    from taskq.client import InvalidRequest

    return Misused if isinstance(error, InvalidRequest) else Refused


def _consoles() -> tuple[Console, Console]:
    from taskq.terminal.render import consoles

    return consoles()


def _echo_json(record: Any) -> None:
    """One record as one line of JSON (the API's field names; times in ISO 8601, UTC)."""
    import msgspec

    click.echo(msgspec.json.encode(record).decode())


# submit


@dataclass(frozen=True)
class Line:
    """One task of a --file: the line it came from, and what to submit."""

    number: int
    submission: Submission


@click.command()
@click.argument("action", required=False)
@click.argument("data_json", required=False)
@click.option(
    "--file",
    "tasks_file",
    type=click.File("r", encoding="utf-8"),
    metavar="PATH",
    help="submit every line of this file (JSON Lines, each a POST /tasks body; - for stdin)"
    " instead of ACTION, 1000 a request",
)
@click.option("--queue", metavar="Q", help="queue to put the task in  [default: default]")
@click.option("--priority", type=int, metavar="N", help="higher runs first  [default: 0]")
@click.option(
    "--delay", type=click.FloatRange(min=0), metavar="S", help="run it S seconds from now"
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    metavar="N",
    help="attempts before it fails  [default: the action's, else the worker's]",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="the task's time limit per attempt, in seconds (for how long to wait, see --wait-timeout)",
)
@click.option(
    "--unique-key",
    metavar="KEY",
    help="while a task holding KEY is queued or running, answer that task instead of"
    " storing another",
)
@click.option(
    "--concurrency-key",
    metavar="KEY",
    help="run at most the queue's key concurrency (1 unless set) of the tasks holding KEY at once",
)
@click.option("--wait", is_flag=True, help="wait until the task is finished, and show it")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="S",
    help="with --wait: give up after S seconds (exit 2; the task goes on); 0 waits as long"
    " as it takes",
)
@as_json
@connection
def submit(  # noqa: PLR0917  (click passes each option as an argument)
    action: str | None,
    data_json: str | None,
    tasks_file: IO[str] | None,
    queue: str | None,
    priority: int | None,
    delay: float | None,
    max_attempts: int | None,
    timeout_s: float | None,
    unique_key: str | None,
    concurrency_key: str | None,
    wait: bool,
    wait_timeout: float,
    as_json: bool,
    url: str,
    api_key: str | None,
) -> None:
    """Submit a task (or a file of them) and print its id.

    DATA_JSON is the task's data, a JSON object ("-" reads it from stdin). With --wait the
    command waits for the task to finish and shows how it ended: exit status 0 if it
    completed, 1 if it failed or was cancelled, 2 if the wait timed out.

    \b
    Examples:
      taskq submit uppercase '{"text": "hello world"}'
      taskq submit sum '{"numbers": [1, 2, 3]}' --wait
      taskq submit report '{"day": 1}' --queue slow --delay 3600 --json | jq -r .id
      taskq submit sync '{"customer": 7}' --unique-key customer:7
      taskq submit --file tasks.jsonl --queue bulk
    """
    options: dict[str, Any] = {
        "queue": queue,
        "priority": priority,
        "delay": delay,
        "max_attempts": max_attempts,
        "timeout": timeout_s,
        "unique_key": unique_key,
        "concurrency_key": concurrency_key,
    }
    options = {name: value for name, value in options.items() if value is not None}
    if tasks_file is not None:
        if action is not None or data_json is not None:
            raise Misused("give ACTION [DATA_JSON] or --file, not both")
        if wait:
            raise Misused("--wait waits for one task: it does not go with --file")
        if unique_key is not None or concurrency_key is not None:
            raise Misused("--unique-key and --concurrency-key are one task's: give them per line")
        _submit_file(tasks_file, options, as_json=as_json, url=url, api_key=api_key)
        return
    if action is None:
        raise Misused("give the ACTION to run (or --file); see taskq submit --help")
    data = _data(data_json)
    with talking_to(url, api_key) as client:
        accepted = client.submit(action, data, **options)
        if not accepted.created and not as_json:
            click.echo(f"{unique_key} is held by this {accepted.status} task", err=True)
        if not wait:
            if as_json:
                _echo_json(accepted)
            else:
                click.echo(accepted.id)
            return
        if not as_json:
            click.echo(accepted.id)  # first: the id is known even if the wait is given up
        code = _wait(client, accepted.id, wait_timeout or None, as_json=as_json)
    sys.exit(code)


def _data(data_json: str | None) -> dict[str, Any] | None:
    if data_json is None:
        return None
    text = sys.stdin.read() if data_json == "-" else data_json
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise Misused(f"DATA_JSON is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise Misused(f"DATA_JSON must be a JSON object, not {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _wait(client: Client, task_id: str, timeout_s: float | None, *, as_json: bool) -> int:
    """Wait for the task (a spinner on a terminal), show it; the exit status it earns."""
    from taskq.client import WaitTimeout
    from taskq.terminal.render import outcome

    out, err = _consoles()
    spinner = (
        err.status(f"waiting for {task_id}", spinner="dots")
        if err.is_terminal
        else contextlib.nullcontext()
    )
    try:
        with spinner:
            task = client.wait(task_id, timeout=timeout_s)
    except WaitTimeout as timed_out:
        if as_json:
            _echo_json(timed_out.task)
        raise Misused(f"{timed_out.error}; it goes on (taskq show {task_id})") from None
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped waiting; task {task_id} goes on (taskq show {task_id})"
        ) from None
    if as_json:
        _echo_json(task)
    else:
        out.print(outcome(task))
    return OK if task.status is Status.COMPLETED else FAILED


def _submit_file(
    tasks_file: IO[str], options: dict[str, Any], *, as_json: bool, url: str, api_key: str | None
) -> None:
    """Every line of ``tasks_file``, in batches of 1000 (a progress bar on a terminal); each
    batch is stored whole or not at all. Nothing is sent if any line is not a task."""
    from taskq.client import ClientError

    name = "<stdin>" if tasks_file.name in ("<stdin>", "-") else tasks_file.name
    lines = _read_lines(tasks_file, name, options)
    if not lines:
        raise Misused(f"{name} holds no task")
    _, err = _consoles()
    accepted = []
    started = time.monotonic()
    with talking_to(url, api_key) as client, _progress(err, len(lines)) as advance:
        for start in range(0, len(lines), BATCH):
            chunk = lines[start : start + BATCH]
            try:
                accepted += client.submit_many([line.submission for line in chunk])
            except ClientError as error:
                raise _batch_refused(error, name, chunk, stored=start, url=url) from None
            advance(len(chunk))
    for done in accepted:
        if as_json:
            _echo_json(done)
        else:
            click.echo(done.id)
    took = time.monotonic() - started
    click.echo(f"submitted {len(accepted):,} tasks from {name} in {took:.2f} s", err=True)


def _read_lines(tasks_file: IO[str], name: str, options: dict[str, Any]) -> list[Line]:
    lines: list[Line] = []
    for number, text in enumerate(tasks_file, start=1):
        if not text.strip():
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError as error:
            raise Misused(f"{name} line {number}: not JSON: {error}") from None
        if not isinstance(item, dict):
            raise Misused(f"{name} line {number}: a task is a JSON object")
        if not isinstance(item.get("action"), str) or not item["action"]:
            raise Misused(f'{name} line {number}: "action" (a string) is required')
        unknown = sorted(set(item) - SUBMISSION_FIELDS - {"idempotency_key"})
        if unknown:
            raise Misused(f"{name} line {number}: unknown field {unknown[0]!r}")
        submission: Submission = {**options, **item}  # type: ignore[typeddict-item]
        lines.append(Line(number, submission))
    return lines


def _batch_refused(
    error: ClientError, name: str, chunk: list[Line], *, stored: int, url: str
) -> Refused:
    """The error of one batch, told by the line at fault, and what was stored before it."""
    from taskq.client import ConnectionFailed

    found = re.match(r"tasks\[(\d+)\]", error.field or "")
    where, said = name, error.error
    if found and int(found[1]) < len(chunk):
        where = f"{name} line {chunk[int(found[1])].number}"
        said = re.sub(r"^tasks\[\d+\][^:\s]*:\s*", "", said) or said  # the line says which
    elif isinstance(error, ConnectionFailed):
        said = f"cannot reach the service at {url}: {error.error}"
    kept = (
        f"the {stored:,} tasks before line {chunk[0].number} were stored, none after"
        if stored
        else "nothing was stored"
    )
    return _refusal(error)(f"{where}: {said}; {kept}")


@contextlib.contextmanager
def _progress(console: Console, total: int) -> Iterator[Any]:
    """A progress bar on ``console`` if it is a terminal; yields ``advance(n)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "submitting",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as progress:
        bar = progress.add_task("submitting", total=total)
        yield lambda n: progress.advance(bar, n)


# ls


@click.command("ls")
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(STATUSES),
    help="only tasks in this status (repeatable: any of them)",
)
@click.option("--queue", multiple=True, help="only tasks of this queue (repeatable)")
@click.option("--action", multiple=True, help="only tasks of this action (repeatable)")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="the newest N tasks; 0 for every matching one",
)
@click.option("--watch", is_flag=True, help="redraw the table until Ctrl-C")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    metavar="S",
    help="with --watch: seconds between redraws",
)
@as_json
@connection
def ls(  # noqa: PLR0917  (click passes each option as an argument)
    status: tuple[str, ...],
    queue: tuple[str, ...],
    action: tuple[str, ...],
    limit: int,
    watch: bool,
    interval: float,
    as_json: bool,
    url: str,
    api_key: str | None,
) -> None:
    """List tasks, newest first: id, action, queue, status, attempts, age, error.

    With --json, one task a line (JSON Lines).

    \b
    Examples:
      taskq ls
      taskq ls --status failed --queue emails --limit 100
      taskq ls --watch
      taskq ls --status failed --limit 0 --json | jq -r .id
    """
    if watch and as_json:
        raise Misused("--watch redraws a table: it does not go with --json")
    page_size = min(limit, 1000) if limit else 1000
    with talking_to(url, api_key) as client:

        def newest() -> list[Any]:
            tasks = client.list(status, queue, action, page_size=page_size)
            return list(islice(tasks, limit or None))

        if as_json:
            for task in newest():
                _echo_json(task)
            return
        out, _ = _consoles()
        if watch:
            _watch(out, newest, interval)
        else:
            from taskq.terminal.render import task_table

            out.print(task_table(newest()))


def _watch(out: Console, newest: Any, interval_s: float) -> None:
    from rich.live import Live

    from taskq.terminal.render import task_table

    def draw() -> Any:
        now = time.strftime("%H:%M:%S")
        return task_table(newest(), caption=f"{now} · every {interval_s:g} s · Ctrl-C to stop")

    with Live(draw(), console=out, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval_s)
                live.update(draw(), refresh=True)
        except KeyboardInterrupt:
            pass


# show, cancel, retry


@click.command()
@click.argument("task_id", metavar="ID")
@as_json
@connection
def show(task_id: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Show one task: its payload, result, every attempt's error and traceback, a timeline.

    \b
    Examples:
      taskq show 01a209c1-10b9-71b1-8899-ce3b1042efa2
      taskq show 01a209c1-10b9-71b1-8899-ce3b1042efa2 --json | jq .result
    """
    with talking_to(url, api_key) as client:
        task = client.get(task_id)
    if as_json:
        _echo_json(task)
        return
    from taskq.terminal.render import task_detail

    out, _ = _consoles()
    out.print(task_detail(task))


@click.command()
@click.argument("task_id", metavar="ID")
@as_json
@connection
def cancel(task_id: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Cancel a queued task, or ask a running one to stop (needs an admin key).

    \b
    Example:
      taskq cancel 01a209c1-10b9-71b1-8899-ce3b1042efa2
    """
    with talking_to(url, api_key) as client:
        task = client.cancel(task_id)
    if as_json:
        _echo_json(task)
    elif task.status is Status.CANCELLED:
        click.echo(f"{task.id} cancelled")
    else:
        click.echo(f"{task.id} is {task.status.value}: asked to stop (cancel requested)")


@click.command()
@click.argument("task_id", metavar="ID")
@as_json
@connection
def retry(task_id: str, as_json: bool, url: str, api_key: str | None) -> None:
    """Queue a failed or cancelled task again, with a fresh attempt budget (admin key).

    \b
    Examples:
      taskq retry 01a209c1-10b9-71b1-8899-ce3b1042efa2
      taskq ls --status failed --limit 0 --json | jq -r .id | xargs -n1 taskq retry
    """
    with talking_to(url, api_key) as client:
        accepted = client.retry(task_id)
    if as_json:
        _echo_json(accepted)
    else:
        click.echo(f"{accepted.id} {accepted.status.value} again")


# stats


@click.command()
@as_json
@connection
def stats(as_json: bool, url: str, api_key: str | None) -> None:
    """Tasks by status and by queue, throughput, and wait and run times (p50, p95).

    The figures of GET /stats and GET /queues; --json prints both answers as
    {"stats": …, "queues": …}.

    \b
    Examples:
      taskq stats
      taskq stats --json | jq .stats.counts.failed
    """
    with talking_to(url, api_key) as client:
        figures, queues = client.stats(), client.queues()
    if as_json:
        _echo_json({"stats": figures, "queues": queues})
        return
    from taskq.terminal.render import stats_view

    out, _ = _consoles()
    out.print(stats_view(figures, queues))


COMMANDS = (submit, ls, show, cancel, retry, stats)
