"""Log output for the taskq processes: human text or one JSON object per line.

A line about a task carries its fields (``task_id``, ``action``, ``queue``, ``attempt``,
and ``trace_id``, its submission's trace, when it was traced): keys in JSON, ``name=value``
pairs at the end of a text line. A failed attempt's traceback
(``traceback``) is logged once, by the worker, under the line that says it failed.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from taskq import codec
from taskq.tracing import trace_id

if TYPE_CHECKING:
    from taskq.task import Task

TASK_FIELDS = ("task_id", "action", "queue", "attempt", "trace_id")


def task_fields(task: Task, **more: Any) -> dict[str, Any]:
    """The ``extra`` of a log call about ``task`` (``more``: e.g. a ``traceback``)."""
    fields = {
        "task_id": task.id,
        "action": task.action,
        "queue": task.queue,
        "attempt": task.attempts,
        **more,
    }
    if task.trace_context:
        fields["trace_id"] = trace_id(task.trace_context)
    return fields


class TextFormatter(logging.Formatter):
    """``time level logger: message task_id=… action=… queue=… attempt=…``, then the
    traceback of a failed attempt, if any, on the lines below."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={getattr(record, name)}" for name in TASK_FIELDS if hasattr(record, name)
        ]
        if fields:
            line = f"{line} {' '.join(fields)}"
        trace = getattr(record, "traceback", None)
        return f"{line}\n{trace.rstrip()}" if trace else line


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*TASK_FIELDS, "traceback"):
            if getattr(record, name, None) is not None:
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return codec.encode(entry)


def configure_logging(level: str, fmt: str) -> None:
    """Send taskq's and uvicorn's logs to stderr at ``level`` in ``fmt`` (text or json)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # yoyo narrates every migration step and psycopg_pool every connection at INFO
    for chatty in ("yoyo", "psycopg.pool"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
