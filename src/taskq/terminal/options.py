"""The options every command that talks to a service shares: where it is, the key, --json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_URL = "http://127.0.0.1:8080"


def _url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def connection(fn: F) -> F:
    """``--url`` (``TASKQ_URL``) and ``--api-key`` (``TASKQ_API_KEY``, never shown)."""
    fn = click.option(
        "--api-key",
        envvar="TASKQ_API_KEY",
        show_envvar=True,
        metavar="KEY",
        help="API key (`taskq keys create`), needed once any key exists",
    )(fn)
    return click.option(
        "--url",
        envvar="TASKQ_URL",
        show_envvar=True,
        default=DEFAULT_URL,
        metavar="URL",
        show_default=True,
        callback=_url,
        help="the taskq service",
    )(fn)


def as_json(fn: F) -> F:
    """``--json``: the API's records as JSON instead of tables."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="print JSON for scripts (jq) instead of tables",
    )(fn)
