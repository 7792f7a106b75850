"""A worker that traces: one ``process`` span per attempt, the first a child of the
submission's stored context, later ones linked to it; the handler's own spans nest inside,
async and sync (in a thread) alike; errors recorded on the span."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.support.waiting import until_terminal
from tests.support.worker import actions, running

from taskq.actions import Action, Fail
from taskq.logs import JsonFormatter, TextFormatter
from taskq.otel import OtelTracing, context_of, stored_context
from taskq.queue import Queue
from taskq.task import NewTask, Status, Task

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.clear()


@pytest.fixture
def provider(spans: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


def submitted(provider: TracerProvider) -> tuple[str, trace.SpanContext]:
    """A trace context as POST /tasks stores it, and the span it names."""
    span = provider.get_tracer("test").start_span("send default", kind=SpanKind.PRODUCER)
    span.end()
    text = stored_context(trace.set_span_in_context(span))
    assert text is not None
    return text, span.get_span_context()


def named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


async def enqueue(into: Queue, action: str, trace_context: str | None, **kw: Any) -> Task:
    (task,) = await into.enqueue_many([NewTask(action=action, trace_context=trace_context, **kw)])
    return task


async def test_the_first_attempt_is_a_child_and_the_handler_spans_nest_async_and_sync(
    queue: Queue, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("handlers")

    async def in_loop(data: dict[str, Any]) -> str:
        with tracer.start_as_current_span("async work"):
            await asyncio.sleep(0)
        return "ok"

    def in_thread(data: dict[str, Any]) -> str:
        with tracer.start_as_current_span("sync work"):
            time.sleep(0.001)
        return "ok"

    context, sent = submitted(provider)
    acts = actions(Action("in_loop", in_loop), Action("in_thread", in_thread))
    async with running(queue, acts, tracing=OtelTracing(provider)):
        one = await enqueue(queue, "in_loop", context, queue="mail")
        two = await enqueue(queue, "in_thread", context, queue="mail")
        for task in (one, two):
            assert (await until_terminal(queue, task.id)).status is Status.COMPLETED
    processes = {s.attributes["messaging.message.id"]: s for s in named(spans, "process mail")}
    for task, work in ((one, "async work"), (two, "sync work")):
        process = processes[task.id]
        assert process.kind is SpanKind.CONSUMER
        assert process.parent is not None
        assert process.parent.span_id == sent.span_id
        assert process.context.trace_id == sent.trace_id
        assert dict(process.attributes) == {
            "messaging.system": "taskq",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": "mail",
            "messaging.message.id": task.id,
            "taskq.action": task.action,
            "taskq.attempt": 1,
            "taskq.outcome": "succeeded",
        }
        assert process.status.status_code is StatusCode.UNSET
        assert not process.links
        (handler_span,) = named(spans, work)
        assert handler_span.parent is not None
        assert handler_span.parent.span_id == process.context.span_id
        assert handler_span.context.trace_id == sent.trace_id


async def test_a_retry_starts_its_own_trace_linked_to_the_submission(
    queue: Queue, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    calls = 0

    async def flaky(data: dict[str, Any]) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("not yet")
        return "ok"

    context, sent = submitted(provider)
    async with running(queue, actions(Action("flaky", flaky)), tracing=OtelTracing(provider)):
        task = await enqueue(queue, "flaky", context)
        assert (await until_terminal(queue, task.id)).status is Status.COMPLETED
    first, second = sorted(named(spans, "process default"), key=lambda s: s.start_time or 0)
    assert first.attributes["taskq.attempt"] == 1
    assert first.parent is not None
    assert first.parent.span_id == sent.span_id
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["error.type"] == "ValueError"
    assert first.attributes["taskq.outcome"] == "failed"
    (event,) = first.events
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "not yet"

    assert second.attributes["taskq.attempt"] == 2
    assert second.parent is None, "a retry is a new root"
    assert second.context.trace_id != sent.trace_id
    (link,) = second.links
    assert (link.context.trace_id, link.context.span_id) == (sent.trace_id, sent.span_id)
    assert second.status.status_code is StatusCode.UNSET


async def test_fail_and_timeout_are_errors_and_cancel_is_not(
    queue: Queue, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    started = asyncio.Event()

    async def refuse(data: dict[str, Any]) -> None:
        raise Fail("bad input")

    async def slow(data: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(30)

    acts = actions(Action("refuse", refuse), Action("slow", slow))
    context, _ = submitted(provider)
    async with running(queue, acts, tracing=OtelTracing(provider), max_attempts=1):
        refused = await enqueue(queue, "refuse", context)
        timed_out = await enqueue(queue, "slow", context, timeout_s=0.05)
        for task in (refused, timed_out):
            assert (await until_terminal(queue, task.id)).status is Status.FAILED
        started.clear()
        cancelled = await enqueue(queue, "slow", context)
        await started.wait()
        await queue.cancel(cancelled.id)
        assert (await until_terminal(queue, cancelled.id)).status is Status.CANCELLED
    by_id = {s.attributes["messaging.message.id"]: s for s in named(spans, "process default")}
    assert by_id[refused.id].status.status_code is StatusCode.ERROR
    assert by_id[refused.id].attributes["error.type"] == "taskq.actions.Fail"
    assert by_id[timed_out.id].status.status_code is StatusCode.ERROR
    assert by_id[timed_out.id].attributes["error.type"] == "timeout"
    assert by_id[cancelled.id].status.status_code is StatusCode.UNSET
    assert by_id[cancelled.id].attributes["taskq.outcome"] == "cancelled"


async def test_an_untraced_task_gets_a_root_span(
    queue: Queue, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    async with running(queue, actions(), tracing=OtelTracing(provider)):
        task = await enqueue(queue, "uppercase", None, data={"text": "a"})
        assert (await until_terminal(queue, task.id)).status is Status.COMPLETED
    (process,) = named(spans, "process default")
    assert process.parent is None
    assert not process.links


def test_a_stored_context_keeps_its_tracestate() -> None:
    text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\ncongo=t61rcWkgMzE"
    restored = context_of(text)
    span_context = trace.get_current_span(restored).get_span_context()
    assert format(span_context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span_context.trace_state.get("congo") == "t61rcWkgMzE"
    assert stored_context(restored) == text


async def test_every_line_about_a_traced_task_carries_its_trace_id(
    queue: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(data: dict[str, Any]) -> None:
        raise ValueError("no")

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    caplog.set_level(logging.DEBUG, logger="taskq")
    async with running(queue, actions(Action("broken", broken)), max_attempts=1):
        traced = await enqueue(queue, "broken", f"00-{trace_id}-00f067aa0ba902b7-01")
        untraced = await enqueue(queue, "broken", None)
        for task in (traced, untraced):
            await until_terminal(queue, task.id)
    lines = [r for r in caplog.records if getattr(r, "task_id", None) == traced.id]
    assert len(lines) >= 2, "started (debug) and failed"
    for record in lines:
        assert record.trace_id == trace_id
        assert f"attempt=1 trace_id={trace_id}" in TextFormatter().format(record)
        assert json.loads(JsonFormatter().format(record))["trace_id"] == trace_id
    others = [r for r in caplog.records if getattr(r, "task_id", None) == untraced.id]
    assert others
    for record in others:
        assert "trace_id" not in TextFormatter().format(record)
        assert "trace_id" not in json.loads(JsonFormatter().format(record))
