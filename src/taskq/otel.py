"""Tracing with OpenTelemetry (the ``taskq[otel]`` extra): imported only when tracing is on.

Spans follow the OpenTelemetry messaging conventions (``messaging.system=taskq``):

* ``send {queue}`` (PRODUCER): one ``POST /tasks``, a child of the request's
  ``traceparent`` if it has one; its context is stored with the task.
* ``send {queue}`` (CLIENT) for ``POST /tasks/batch``, with a ``create {queue}``
  (PRODUCER) child per task, whose context is stored with that task.
* ``process {queue}`` (CONSUMER): one attempt in a worker. The first attempt is a child of
  the stored context; a later one (a retry, or an attempt after lease rescue took the task
  from a lost worker) starts a trace of its own, linked to it. The handler runs inside
  this span (a sync handler's thread gets a copy of the context), so its spans nest.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from types import TracebackType
from typing import Any

import msgspec
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from taskq import __version__, tracing
from taskq.errors import TaskqError
from taskq.task import NewTask, Task
from taskq.worker.attempt import CANCELLED, AttemptStopped

log = logging.getLogger(__name__)

SYSTEM = "taskq"
# only the W3C trace context is stored with a task: baggage could carry anything, and a
# task row is kept for the retention period
_W3C = TraceContextTextMapPropagator()
_EXPORTERS = "opentelemetry_traces_exporter"  # the entry-point group exporters register in


def stored_context(ctx: context.Context) -> str | None:
    """The trace context of ``ctx`` as a task stores it (None if it holds no valid span)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=ctx)
    parent = carrier.get("traceparent")
    if parent is None:
        return None
    state = carrier.get("tracestate")
    return f"{parent}\n{state}" if state else parent


def context_of(trace_context: str) -> context.Context:
    """The OpenTelemetry context a task's stored trace context stands for."""
    parent, _, state = trace_context.partition("\n")
    carrier = {"traceparent": parent}
    if state:
        carrier["tracestate"] = state
    return _W3C.extract(carrier, context=context.Context())


def _attributes(operation: str, queue: str | None, **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }
    if queue is not None:
        found["messaging.destination.name"] = queue
    found.update(more)
    return found


def _span_name(operation: str, queue: str | None) -> str:
    return operation if queue is None else f"{operation} {queue}"


def _fail(span: trace.Span, exc: BaseException, error_type: str | None = None) -> None:
    span.record_exception(exc)
    span.set_attribute("error.type", error_type or _qualified_name(type(exc)))
    span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__name__))


def _qualified_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


class Sending(tracing.Sending):
    """A traced submission: its ``send`` span is current inside the ``with``."""

    __slots__ = ("_span", "_token")

    def __init__(
        self, tracer: trace.Tracer, tasks: list[NewTask], headers: Mapping[str, str], batch: bool
    ) -> None:
        parent = propagate.extract(headers, context=context.Context())
        queues = {t.queue for t in tasks}
        queue = queues.pop() if len(queues) == 1 else None
        if batch:
            attributes = _attributes("send", queue, **{"messaging.batch.message_count": len(tasks)})
            kind = SpanKind.CLIENT  # each task's creation context is its own create span
        else:
            attributes = _attributes(
                "send",
                queue,
                **{"messaging.message.id": tasks[0].id, "taskq.action": tasks[0].action},
            )
            kind = SpanKind.PRODUCER
        self._span = tracer.start_span(
            _span_name("send", queue), context=parent, kind=kind, attributes=attributes
        )
        sent = trace.set_span_in_context(self._span, parent)
        if batch:
            traced = [_created(tracer, t, sent) for t in tasks]
        else:
            traced = [msgspec.structs.replace(tasks[0], trace_context=stored_context(sent))]
        super().__init__(traced)
        self._token: object = None

    def stored(self, tasks: Sequence[Task]) -> None:
        if len(tasks) == 1 and tasks[0].id != self.tasks[0].id:
            # a key (idempotency, or unique while active) answered with a task stored before
            self._span.set_attribute("messaging.message.id", tasks[0].id)
            self._span.set_attribute("taskq.created", False)

    def __enter__(self) -> Sending:
        self._token = context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        context.detach(self._token)  # type: ignore[arg-type]
        if exc is not None:
            _fail(self._span, exc)
        self._span.end()


def _created(tracer: trace.Tracer, task: NewTask, sent: context.Context) -> NewTask:
    """``task`` with the context of its own ``create`` span, a child of the batch's send."""
    attributes = _attributes(
        "create", task.queue, **{"messaging.message.id": task.id, "taskq.action": task.action}
    )
    span = tracer.start_span(
        _span_name("create", task.queue),
        context=sent,
        kind=SpanKind.PRODUCER,
        attributes=attributes,
    )
    span.end()
    return msgspec.structs.replace(
        task, trace_context=stored_context(trace.set_span_in_context(span))
    )


class Processing(tracing.Processing):
    """A traced attempt: its ``process`` span is current inside the ``with``."""

    __slots__ = ("_span", "_token")

    def __init__(self, tracer: trace.Tracer, task: Task) -> None:
        parent = context.Context()  # not the worker loop's: a task's span hangs off its submission
        links = None
        if task.trace_context:
            submitted = context_of(task.trace_context)
            if task.attempts <= 1 and not task.errors:
                parent = submitted
            else:  # a retry is work of its own, later: linked, not a child
                span_context = trace.get_current_span(submitted).get_span_context()
                links = [Link(span_context)] if span_context.is_valid else None
        attributes = _attributes(
            "process",
            task.queue,
            **{
                "messaging.message.id": task.id,
                "taskq.action": task.action,
                "taskq.attempt": task.attempts,
            },
        )
        self._span = tracer.start_span(
            _span_name("process", task.queue),
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        )
        self._token: object = None

    def __enter__(self) -> Processing:
        self._token = context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        context.detach(self._token)  # type: ignore[arg-type]
        span = self._span
        if exc is None:
            span.set_attribute("taskq.outcome", "succeeded")
        elif isinstance(exc, AttemptStopped) and exc.cancelled:
            span.set_attribute("taskq.outcome", CANCELLED)
        elif isinstance(exc, AttemptStopped):
            span.set_attribute("taskq.outcome", "failed")
            _fail(span, exc, "timeout" if str(exc).startswith("timed out") else "stopped")
        elif isinstance(exc, asyncio.CancelledError):  # the worker stopped past its grace
            span.set_attribute("taskq.outcome", "interrupted")
            _fail(span, exc, "interrupted")
        else:  # Fail, Retry, or whatever the handler raised
            span.set_attribute("taskq.outcome", "failed")
            _fail(span, exc)
        span.end()


class OtelTracing(tracing.Tracing):
    """Tracing through an OpenTelemetry tracer provider (the process's global one unless
    given: the handlers' own spans go where taskq's do)."""

    is_enabled = True

    def __init__(self, provider: trace.TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("taskq", __version__, tracer_provider=provider)

    def sending(
        self, tasks: list[NewTask], headers: Mapping[str, str], *, batch: bool = False
    ) -> Sending:
        return Sending(self.tracer, tasks, headers, batch)

    def processing(self, task: Task) -> Processing:
        return Processing(self.tracer, task)


def configure() -> OtelTracing:
    """Set up the process's tracer provider from the standard ``OTEL_*`` environment (unless
    one is set up already, as ``opentelemetry-instrument`` does) and trace through it."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        log.info("tracing with OpenTelemetry through the tracer provider already set up")
        return OtelTracing()
    provider = TracerProvider(resource=_resource())  # the sampler: OTEL_TRACES_SAMPLER
    names = []
    for name, exporter in _exporters():
        # the console one writes as spans end (for a developer watching); others in batches
        simple = name == "console"
        provider.add_span_processor(
            SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter)
        )
        names.append(name)
    trace.set_tracer_provider(provider)
    log.info("tracing with OpenTelemetry: exporting to %s", ", ".join(names) or "nothing")
    return OtelTracing(provider)


def _resource() -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, and service.name "taskq" otherwise."""
    resource = Resource.create({"service.version": __version__})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SYSTEM}))
    return resource


def _exporters() -> list[tuple[str, SpanExporter]]:
    """The exporters OTEL_TRACES_EXPORTER names (default otlp: OTLP over HTTP), each
    found among the installed ones by its entry-point name."""
    wanted = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    found = []
    for name in (n.strip().lower() for n in wanted.split(",")):
        if name in ("", "none"):
            continue
        entry = _otlp_entry() if name == "otlp" else name
        matches = entry_points(group=_EXPORTERS, name=entry)
        if not matches:
            raise TaskqError(
                f"OTEL_TRACES_EXPORTER={name}: no such span exporter is installed"
                f" (installed: {', '.join(sorted(e.name for e in entry_points(group=_EXPORTERS)))})"
            )
        exporter_class = next(iter(matches)).load()
        found.append((name, exporter_class()))
    return found


def _otlp_entry() -> str:
    """ "otlp" is the protocol OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL names: http/protobuf,
    which the extra installs, unless grpc is asked for (opentelemetry-exporter-otlp-proto-grpc)."""
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    return "otlp_proto_grpc" if protocol.strip() == "grpc" else "otlp_proto_http"
