"""The ``taskq`` command: parses flags into Settings and starts the core or the API.

taskq run       migrations, then the HTTP API and a worker in one process
taskq api       the HTTP API alone
taskq worker    a worker alone (run as many as you like on one database)
taskq migrate   apply the schema migrations and exit
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from taskq import __version__, migrations
from taskq.actions import ActionsError
from taskq.config import Settings, load_settings
from taskq.errors import TaskqError
from taskq.logs import configure_logging

log = logging.getLogger("taskq")
F = TypeVar("F", bound=Callable[..., Any])


def _database_option(fn: F) -> F:
    return click.option(
        "--database", help="SQLite file path or postgresql:// URL  [default: ./data/tasks.db]"
    )(fn)


def _common_options(fn: F) -> F:
    options = [
        click.option("--config", "config_file", help="TOML settings file  [default: ./taskq.toml]"),
        _database_option,
        click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"])),
        click.option("--log-format", type=click.Choice(["text", "json"])),
        click.option(
            "--pg-pool-size",
            type=int,
            help="PostgreSQL connections per process, plus one listening  [default: 10]",
        ),
        click.option(
            "--sqlite-synchronous",
            type=click.Choice(["FULL", "NORMAL"]),
            help="SQLite fsync level  [default: FULL]",
        ),
        click.option(
            "--sqlite-worker-sync-ms",
            type=int,
            help="with FULL, fsync worker bookkeeping within this long, not per commit;"
            " accepted tasks are always fsynced before the reply; 0 = per commit  [default: 20]",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _http_options(fn: F) -> F:
    options = [
        click.option("--host", help="address to listen on  [default: 127.0.0.1]"),
        click.option("--port", type=int, help="port to listen on  [default: 8080]"),
        click.option("--max-body-bytes", type=int, help="largest request body  [default: 1 MiB]"),
        click.option(
            "--max-header-bytes",
            type=int,
            help="largest request line and headers; more is answered 431  [default: 64 KiB]",
        ),
        click.option(
            "--header-timeout-s",
            type=float,
            help="time a client gets to send the request line and headers  [default: 10]",
        ),
        click.option(
            "--body-timeout-s",
            type=float,
            help="time a client gets to send a whole request body  [default: 30]",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _worker_options(fn: F) -> F:
    options = [
        click.option("--concurrency", type=int, help="tasks run at once  [default: 2]"),
        click.option("--prefetch", type=int, help="tasks claimed ahead  [default: 5]"),
        click.option(
            "--demo-delay-ms", type=int, help="simulated work of demo actions  [default: 100]"
        ),
        click.option(
            "--actions", multiple=True, help="module of @taskq.action handlers (repeatable)"
        ),
        click.option("--queues", help="comma-separated queues to consume  [default: all]"),
        click.option("--max-attempts", type=int, help="attempts before a task fails  [default: 3]"),
        click.option("--lease-s", type=float, help="lease on a running task  [default: 30]"),
        click.option(
            "--grace-s", type=float, help="shutdown grace for running tasks  [default: 30]"
        ),
        click.option(
            "--cancel-grace-s",
            type=float,
            help="time a cancelled or timed-out sync handler gets to return  [default: 5]",
        ),
        click.option(
            "--retention-days",
            type=float,
            help="prune finished tasks older than this; 0 keeps them  [default: 7]",
        ),
        click.option(
            "--poll-interval-s",
            type=float,
            help="check for work from other processes  [default: 1]",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


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


def _announce(what: str, settings: Settings) -> None:
    """Say what starts, on which store: the first thing an operator looks for in a log."""
    from taskq.drivers import display_url, is_postgres_url

    kind = "PostgreSQL" if is_postgres_url(settings.database) else "SQLite"
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
@_guard
def run(config_file: str | None, **flags: Any) -> None:
    """Migrate, then serve the API and run a worker in this process."""
    settings = _settings(config_file, **flags)
    sock = _bind(settings)  # first: a busy port must leave everything as it was
    applied = migrations.migrate(settings.database)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    _serve(settings, sock, run_worker=True)


@main.command()
@_common_options
@_http_options
@_guard
def api(config_file: str | None, **flags: Any) -> None:
    """Serve the HTTP API only (workers run elsewhere)."""
    settings = _settings(config_file, **flags)
    sock = _bind(settings)
    migrations.check(settings.database)
    _serve(settings, sock, run_worker=False)


@main.command()
@_common_options
@_worker_options
@_guard
def worker(config_file: str | None, **flags: Any) -> None:
    """Run a worker only; any number may share one database."""
    settings = _settings(config_file, **flags)
    migrations.check(settings.database)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_work(settings))


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


def _serve(settings: Settings, sock: socket.socket, *, run_worker: bool) -> None:
    from taskq.actions import Actions
    from taskq.api import create_app
    from taskq.api.server import serve

    if run_worker:  # fail on a bad --actions module before the app starts
        Actions.load(settings.actions, demo_delay_ms=settings.demo_delay_ms)
    _announce("API and worker" if run_worker else "API", settings)
    serve(create_app(settings, run_worker=run_worker), settings, sock)


if __name__ == "__main__":
    main()
