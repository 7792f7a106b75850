"""Tracing: the seam the API and the worker call, a no-op unless tracing is turned on.

Turned on (``--otel``, or any of the standard ``OTEL_TRACES_EXPORTER``,
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set, with the
``taskq[otel]`` extra installed), ``taskq.otel`` does the work with OpenTelemetry: a span
per submission, its W3C trace context stored with the task, and a span per attempt in the
worker. Off, every hook here does nothing and nothing of OpenTelemetry is imported.

A task's ``trace_context`` is its submission's ``traceparent``, then, on a second line, its
``tracestate`` when it has one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from taskq.errors import TaskqError

if TYPE_CHECKING:
    from taskq.config import Settings
    from taskq.task import NewTask, Task

log = logging.getLogger(__name__)

# any of these set (to anything but "none") turns tracing on, as it does for other services
ENABLING_ENV = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)
EXTRA = "pip install 'taskq[otel]'"


def trace_id(trace_context: str | None) -> str | None:
    """The trace id (32 hex digits) of a stored trace context, None without one."""
    # a traceparent is "00-<trace id>-<span id>-<flags>" (version 00: fixed widths)
    if not trace_context or not trace_context.startswith("00-"):
        return None
    return trace_context[3:35]


class Sending:
    """A submission in flight: ``tasks`` are the tasks to store (when traced, each carrying
    its trace context); call ``stored`` with what the store answered."""

    __slots__ = ("tasks",)

    def __init__(self, tasks: list[NewTask]) -> None:
        self.tasks = tasks

    def stored(self, tasks: Sequence[Task]) -> None:
        """The tasks the store answered for ``self.tasks``, in order."""

    def __enter__(self) -> Sending:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class Processing:
    """One attempt of a task being run: untraced, it does nothing. The traced one ends its
    span on leaving the ``with``, recording the exception that left it, if any."""

    __slots__ = ()

    def __enter__(self) -> Processing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NOT_PROCESSING = Processing()


class Tracing:
    """Tracing turned off: every hook does nothing (the default)."""

    is_enabled = False

    def sending(
        self, tasks: list[NewTask], headers: Mapping[str, str], *, batch: bool = False
    ) -> Sending:
        """Trace the submission of ``tasks`` (one ``POST /tasks``, or a ``batch``), as a
        child of the trace context in ``headers`` (the request's) if any."""
        return Sending(tasks)

    def processing(self, task: Task) -> Processing:
        """Trace one attempt of ``task`` (``task.attempts`` is its number) while its handler
        runs: the handler's own spans are children of this one."""
        return _NOT_PROCESSING


NO_TRACING = Tracing()
_configured: Tracing | None = None


def is_wanted(settings: Settings) -> bool:
    """Whether ``settings`` or the standard OpenTelemetry environment ask for tracing."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if settings.otel:
        return True
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return any(os.environ.get(name, "").strip() for name in ENABLING_ENV)


def from_settings(settings: Settings) -> Tracing:
    """The process's tracing: OpenTelemetry when asked for (set up once per process, on
    first call), else NO_TRACING. Asked for with ``--otel`` without the extra installed,
    TaskqError; through the environment only, a warning, and no tracing."""
    global _configured  # noqa: PLW0603 -- one tracer provider per process, as OpenTelemetry has
    if not is_wanted(settings):
        return NO_TRACING
    if _configured is None:
        try:
            from taskq import otel
        except ImportError as exc:
            if settings.otel:
                raise TaskqError(f"--otel needs OpenTelemetry: {EXTRA} ({exc})") from None
            log.warning("OTEL_* is set but OpenTelemetry is not installed (%s): not tracing", EXTRA)
            _configured = NO_TRACING
            return NO_TRACING
        _configured = otel.configure()
    return _configured
