"""The ``taskq`` command: parses flags into Settings and starts the core or the API.

taskq run       migrations, then the HTTP API and a worker in one process
taskq api       the HTTP API alone
taskq worker    a worker alone (run as many as you like on one database)
taskq migrate   apply the schema migrations and exit
taskq keys      create, list and revoke API keys
taskq queues    pause, resume and limit queues (flow control)

and, against a running service (--url / TASKQ_URL, --api-key / TASKQ_API_KEY):

taskq submit    submit a task (or a file of them), optionally wait for it
taskq ls        list tasks as a table, or watch it live
taskq show      one task: payload, result, errors with tracebacks, timeline
taskq cancel    cancel a task
taskq retry     queue a failed or cancelled task again
taskq stats     counts by status and queue, throughput, wait and run times
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, get_args, get_origin

import click
from pydantic import ValidationError

from taskq import __version__, migrations
from taskq.actions import Actions, ActionsError
from taskq.config import DEFAULT_CONFIG_FILE, Settings, load_settings
from taskq.errors import TaskqError
from taskq.logs import configure_logging
from taskq.terminal.commands import COMMANDS

if TYPE_CHECKING:
    from taskq.api.app import Alongside
    from taskq.flow import QueueSettings, Rate
    from taskq.keys import Keys
    from taskq.queue import Queue

log = logging.getLogger("taskq")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


# The flags of each group, in help order. A flag's type, help and shown default are read
# from its Settings field, where each default is written once.
COMMON_FLAGS = (
    "database",
    "log_level",
    "log_format",
    "pg_pool_size",
    "pg_worker_commit",
    "sqlite_synchronous",
    "sqlite_worker_sync_ms",
)
HTTP_FLAGS = (
    "host",
    "port",
    "processes",
    "allow_anonymous",
    "cors_origins",
    "max_body_bytes",
    "max_header_bytes",
    "header_timeout_s",
    "body_timeout_s",
)
WORKER_FLAGS = (
    "concurrency",
    "prefetch",
    "demo_delay_ms",
    "actions",
    "queues",
    "max_attempts",
    "lease_s",
    "grace_s",
    "cancel_grace_s",
    "retention_days",
    "poll_interval_s",
)
TRACING_FLAGS = ("otel",)  # the commands that serve or work: api, worker, run
REPEATABLE = frozenset({"actions"})  # other list settings take one comma-separated value


def shown_default(name: str) -> str | None:
    """Settings field ``name``'s default as help shows it (sizes in KiB/MiB); None if empty."""
    value = Settings.model_fields[name].get_default(call_default_factory=True)
    if value in ([], {}):
        return None
    if name.endswith("_bytes") and isinstance(value, int):
        for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
            if value >= size and value % size == 0:
                return f"{value // size} {unit}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _flag(name: str) -> Callable[[F], F]:
    """The option for Settings field ``name``.

    Its default is None (or no values): load_settings then leaves the field to env, TOML
    and the Settings default, which the help text shows.
    """
    field = Settings.model_fields[name]
    help_text = field.description or ""
    if name in REPEATABLE:
        help_text += " (repeatable)"
    shown = shown_default(name)
    if shown is not None:
        help_text += f"  [default: {shown}]"
    flag = "--" + name.replace("_", "-")
    if name in REPEATABLE:
        return click.option(flag, multiple=True, help=help_text)
    if field.annotation is bool:  # a switch: absent leaves it to env, TOML and the default
        return click.option(flag, is_flag=True, default=None, help=help_text)
    return click.option(flag, type=_click_type(field.annotation), help=help_text)


def _click_type(annotation: Any) -> click.Choice[Any] | type[Any]:
    if get_origin(annotation) is Literal:
        return click.Choice(get_args(annotation))
    if annotation in (int, float):
        return cast("type[Any]", annotation)
    return str  # str, and a list given as one comma-separated value


def _flags(*names: str) -> Callable[[F], F]:
    def add(fn: F) -> F:
        for name in reversed(names):
            fn = _flag(name)(fn)
        return fn

    return add


def _common_options(fn: F) -> F:
    fn = _flags(*COMMON_FLAGS)(fn)
    return click.option(
        "--config",
        "config_file",
        help=f"TOML settings file  [default: ./{DEFAULT_CONFIG_FILE}]",
    )(fn)


_http_options = _flags(*HTTP_FLAGS)
_worker_options = _flags(*WORKER_FLAGS)
_tracing_options = _flags(*TRACING_FLAGS)


def _fail(message: str) -> None:
    click.echo(f"taskq: {message}", err=True)
    sys.exit(1)


def _settings(config_file: str | None, **flags: Any) -> Settings:
    try:
        settings = load_settings(config_file, **flags)
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        _fail(f"invalid settings: {_first_error(exc)}")
        raise  # unreachable: _fail exits
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _one_process_only(settings: Settings) -> None:
    """memory:// lives in one process: an API and a worker apart would not share it."""
    from taskq.drivers import is_memory_url

    if is_memory_url(settings.database):
        raise TaskqError(
            "memory:// keeps tasks inside one process: use it with `taskq run`,"
            " or give a SQLite file or postgresql:// URL"
        )


def _announce(what: str, settings: Settings) -> None:
    """Say what starts, on which store: the first thing an operator looks for in a log."""
    from taskq.drivers import display_url, is_memory_url, is_postgres_url

    kind = "PostgreSQL" if is_postgres_url(settings.database) else "SQLite"
    if is_memory_url(settings.database):
        kind = "memory (nothing survives a restart)"
    log.info("taskq %s %s on %s %s", __version__, what, kind, display_url(settings.database))


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        # pydantic prefixes a validator's own message with its kind
        message = str(err["msg"]).removeprefix("Value error, ")
        return f"{'.'.join(str(p) for p in err['loc'])}: {message}"
    return str(exc)


def _guard(fn: F) -> F:
    """Turn taskq's own errors into one line on stderr and exit 1, never a traceback."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (TaskqError, ActionsError, ValueError, OSError) as exc:
            _fail(str(exc))
            return None

    return run  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="taskq")
def main() -> None:
    """taskq: a durable task queue with a REST API."""
    # `--actions mymodule` should find modules in the directory taskq is started from
    sys.path.insert(0, "")


for _command in COMMANDS:  # the commands that talk to a running service (taskq/terminal/)
    main.add_command(_command)


@main.command()
@_common_options
@_guard
def migrate(config_file: str | None, **flags: Any) -> None:
    """Apply pending schema migrations and exit (safe to run again)."""
    settings = _settings(config_file, **flags)
    applied = migrations.migrate(settings.database)
    click.echo(f"migrated {settings.database}: " + (", ".join(applied) or "already up to date"))


@main.command()
@_common_options
@_http_options
@_worker_options
@_tracing_options
@_guard
def run(config_file: str | None, **flags: Any) -> None:
    """Migrate, then serve the API and run a worker in this process."""
    from taskq.service import with_worker

    settings = _settings(config_file, **flags)
    sock = _bind(settings)  # first: a busy port must leave everything as it was
    applied = migrations.migrate(settings.database)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    _apply_queue_settings(settings)
    # fail on a bad --actions module before the app starts
    Actions.load(settings.actions, demo_delay_ms=settings.demo_delay_ms)

    def serve_one() -> None:
        worker = with_worker(settings)
        _serve("API and worker", settings, sock, alongside=worker)
        worker.exit_if_stuck()  # the server has stopped and closed the queue

    _serve_processes(settings, serve_one)


@main.command()
@_common_options
@_http_options
@_tracing_options
@_guard
def api(config_file: str | None, **flags: Any) -> None:
    """Serve the HTTP API only (workers run elsewhere)."""
    settings = _settings(config_file, **flags)
    _one_process_only(settings)
    sock = _bind(settings)
    migrations.check(settings.database)
    _apply_queue_settings(settings)
    _serve_processes(settings, lambda: _serve("API", settings, sock))


def _serve_processes(settings: Settings, serve_one: Callable[[], None]) -> None:
    """``serve_one`` here, or in ``--processes`` forked children sharing the bound port."""
    if settings.processes == 1:
        serve_one()
        return
    from taskq.api.processes import serve_processes
    from taskq.drivers import is_memory_url

    if is_memory_url(settings.database):
        raise TaskqError("memory:// lives in one process: --processes needs SQLite or PostgreSQL")
    _check_exposure(settings)  # once, before the children start
    sys.exit(serve_processes(settings.processes, serve_one))


@main.command()
@_common_options
@_worker_options
@_tracing_options
@_guard
def worker(config_file: str | None, **flags: Any) -> None:
    """Run a worker only; any number may share one database."""
    settings = _settings(config_file, **flags)
    _one_process_only(settings)
    migrations.check(settings.database)
    _apply_queue_settings(settings)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_work(settings))


def _apply_queue_settings(settings: Settings) -> None:
    """Write the queue settings of the config file (``[queue_settings.NAME]``) to the store,
    where every process reads them: the file wins over what was set since, at each start."""
    if not settings.queue_settings:
        return

    async def apply(queue: Queue) -> None:
        for name, config in settings.queue_settings.items():
            told = await queue.update_queue(name, **config.changes())
            log.info("queue %s: %s", name, describe_queue(told))

    asyncio.run(_with_queue(settings, apply))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # not on Windows; the default loop works too
        return None
    return uvloop.new_event_loop


async def _work(settings: Settings) -> None:
    from taskq.queue import Queue
    from taskq.worker import Worker

    async with Queue.from_settings(settings) as queue:
        consumer = Worker.from_settings(queue, settings)
        _announce("worker", settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, consumer.stop)
        await consumer.run()
    consumer.exit_if_stuck()


def _bind(settings: Settings) -> socket.socket:
    from taskq.api.server import bind

    return bind(settings.host, settings.port)


def _serve(
    what: str, settings: Settings, sock: socket.socket, *, alongside: Alongside | None = None
) -> None:
    from taskq.api import create_app
    from taskq.api.server import serve

    _announce(what, settings)
    _check_exposure(settings)
    serve(create_app(settings, alongside=alongside), settings, sock)


def _check_exposure(settings: Settings) -> None:
    """Refuse to serve anyone who reaches a service beyond loopback while no key exists,
    unless told to (api/auth.py)."""
    from taskq.api.auth import is_loopback

    if is_loopback(settings.host):
        return
    if settings.allow_anonymous:
        log.warning(
            "listening on %s with --allow-anonymous: while no API key exists, anyone who "
            "reaches this service can submit, cancel and delete tasks",
            settings.host,
        )
        return
    if not asyncio.run(_keys_exist(settings)):
        raise TaskqError(
            f"refusing to listen on {settings.host} with no API key: anyone who reaches it "
            "could steer it. Create a key first (`taskq keys create --name NAME --scope "
            "admin`), listen on 127.0.0.1, or pass --allow-anonymous"
        )


async def _keys_exist(settings: Settings) -> bool:
    from taskq.queue import Queue

    async with Queue.from_settings(settings) as queue:
        return await queue.keys.exist()


# API keys (taskq/keys.py)


@main.group()
def keys() -> None:
    """Create, list and revoke API keys (kept in the store: every API process sees them)."""


@keys.command("create")
@click.option("--name", required=True, help="what the key is for (letters, digits, . _ -)")
@click.option(
    "--scope",
    type=click.Choice(["read", "submit", "admin"]),
    required=True,
    help="read: every GET; submit: also POST /tasks; admin: everything",
)
@_common_options
@_guard
def create_key(name: str, scope: str, config_file: str | None, **flags: Any) -> None:
    """Make a key and print it, once: it is never shown again."""
    from taskq.keys import Scope

    settings = _store_settings(config_file, **flags)
    secret = asyncio.run(_with_keys(settings, lambda k: k.create(name, Scope.parse(scope))))
    click.echo(secret)
    click.echo(
        f"taskq: key {name!r} ({scope}) created; store it now: it is not shown again", err=True
    )


@keys.command("list")
@_common_options
@_guard
def list_keys(config_file: str | None, **flags: Any) -> None:
    """Each key's name, scope, and when it was made and last used (never the key)."""
    settings = _store_settings(config_file, **flags)
    found = asyncio.run(_with_keys(settings, lambda k: k.list()))
    rows = [("NAME", "SCOPE", "CREATED", "LAST USED")]
    rows += [(k.name, k.scope.label, _when(k.created_at), _when(k.last_used_at)) for k in found]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@keys.command("revoke")
@click.argument("name")
@_common_options
@_guard
def revoke_key(name: str, config_file: str | None, **flags: Any) -> None:
    """Delete the key NAME: it stops working at once (within 2 s on other API processes)."""
    settings = _store_settings(config_file, **flags)
    asyncio.run(_with_keys(settings, lambda k: k.revoke(name)))
    click.echo(f"taskq: key {name!r} revoked", err=True)


# Flow control (taskq/flow.py)


@main.group()
def queues() -> None:
    """Pause, resume and limit queues (settings in the store: every worker obeys them at its
    next claim).

    \b
    taskq queues pause emails
    taskq queues set emails --concurrency 4
    taskq queues set emails --rate-limit 100/min
    taskq queues set sync --key-concurrency 2
    taskq queues set emails --concurrency none --rate-limit none
    taskq queues list
    """


@queues.command("pause")
@click.argument("name")
@_common_options
@_guard
def pause_queue(name: str, config_file: str | None, **flags: Any) -> None:
    """Start none of queue NAME's tasks (still accepted; running ones finish)."""
    _show_queues([_update_queue(name, config_file, flags, paused=True)])


@queues.command("resume")
@click.argument("name")
@_common_options
@_guard
def resume_queue(name: str, config_file: str | None, **flags: Any) -> None:
    """Start queue NAME's tasks again (idle workers are woken)."""
    _show_queues([_update_queue(name, config_file, flags, paused=False)])


@queues.command("set")
@click.argument("name")
@click.option(
    "--concurrency",
    metavar="N|none",
    help="at most N of the queue's tasks running at once, across every worker; none: no limit",
)
@click.option(
    "--rate-limit",
    metavar="N/UNIT|none",
    help="at most N of the queue's tasks start in any period (100/s, 10/min, 5/10s, 1000/h,"
    " 20/d), across every worker; none: no limit",
)
@click.option(
    "--key-concurrency",
    metavar="N|none",
    help="at most N of the queue's tasks holding one concurrency key running at once; none: 1",
)
@_common_options
@_guard
def set_queue(
    name: str,
    concurrency: str | None,
    rate_limit: str | None,
    key_concurrency: str | None,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Set queue NAME's concurrency, rate limit or key concurrency (what is not given is
    kept)."""
    changes: dict[str, Any] = {}
    if concurrency is not None:
        changes["concurrency"] = None if _is_none(concurrency) else _positive(concurrency)
    if rate_limit is not None:
        changes["rate"] = None if _is_none(rate_limit) else _rate(rate_limit)
    if key_concurrency is not None:
        changes["key_concurrency"] = (
            None if _is_none(key_concurrency) else _positive(key_concurrency, "--key-concurrency")
        )
    if not changes:
        raise click.UsageError("give --concurrency, --rate-limit, --key-concurrency or several")
    _show_queues([_update_queue(name, config_file, flags, **changes)])


def _is_none(text: str) -> bool:
    return text.strip().lower() == "none"


def _rate(text: str) -> Rate:
    from taskq.errors import InvalidTask
    from taskq.flow import Rate

    try:
        return Rate.parse(text)
    except InvalidTask as exc:
        raise click.BadParameter(str(exc), param_hint="--rate-limit") from None


@queues.command("list")
@_common_options
@_guard
def list_queues(config_file: str | None, **flags: Any) -> None:
    """Each queue with settings: name, paused, concurrency, when last changed."""
    settings = _store_settings(config_file, **flags)
    _show_queues(list(asyncio.run(_with_queue(settings, lambda q: q.queue_settings())).values()))


def _update_queue(
    name: str, config_file: str | None, flags: dict[str, Any], **changes: Any
) -> QueueSettings:
    settings = _store_settings(config_file, **flags)
    return asyncio.run(_with_queue(settings, lambda q: q.update_queue(name, **changes)))


def _positive(text: str, flag: str = "--concurrency") -> int:
    try:
        return int(text)
    except ValueError:
        raise click.BadParameter("an integer from 1, or none", param_hint=flag) from None


def describe_queue(settings: QueueSettings) -> str:
    """A queue's settings in words, as its log line and ``taskq queues list`` say them."""
    concurrency = "unlimited" if settings.concurrency is None else str(settings.concurrency)
    rate = "none" if settings.rate is None else str(settings.rate)
    paused = "paused" if settings.paused else "not paused"
    return f"{paused}, concurrency {concurrency}, rate limit {rate}, per key {settings.per_key}"


def _show_queues(found: list[QueueSettings]) -> None:
    rows = [("NAME", "PAUSED", "CONCURRENCY", "RATE LIMIT", "PER KEY", "CHANGED")]
    rows += [
        (
            q.name,
            "yes" if q.paused else "no",
            "unlimited" if q.concurrency is None else str(q.concurrency),
            "none" if q.rate is None else str(q.rate),
            str(q.per_key),
            _when(q.updated_at),
        )
        for q in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


async def _with_queue(settings: Settings, use: Callable[[Queue], Awaitable[T]]) -> T:
    from taskq.queue import Queue

    async with Queue.from_settings(settings) as queue:
        return await use(queue)


def _store_settings(config_file: str | None, **flags: Any) -> Settings:
    settings = _settings(config_file, **flags)
    _one_process_only(settings)  # keys (settings) made in memory:// would vanish with it
    migrations.migrate(settings.database)
    return settings


async def _with_keys(settings: Settings, use: Callable[[Keys], Awaitable[T]]) -> T:
    from taskq.queue import Queue

    async with Queue.from_settings(settings) as queue:
        return await use(queue.keys)


def _when(moment: float | None) -> str:
    if moment is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


if __name__ == "__main__":
    main()
