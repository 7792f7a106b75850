"""The API traces submissions: a ``send`` span per POST /tasks (a child of the request's
``traceparent``), a ``create`` span per task of a batch, and each span's context stored with
its task; with a worker alongside, one trace from the request to the handler's own span."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests.support.waiting import until
from tests.support.worker import actions

from taskq.actions import Action
from taskq.api import create_app
from taskq.config import Settings
from taskq.otel import OtelTracing
from taskq.queue import Queue
from taskq.task import Status
from taskq.worker import Worker

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(spans: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


@contextlib.asynccontextmanager
async def traced_app(
    database_url: str, provider: TracerProvider, *extra: Action, worker: bool = False
) -> AsyncIterator[tuple[httpx.AsyncClient, Queue]]:
    tracing = OtelTracing(provider)

    @contextlib.asynccontextmanager
    async def alongside(queue: Queue) -> AsyncIterator[None]:
        consumer = Worker(queue, actions(*extra), tracing=tracing, poll_interval_s=0.05)
        running = asyncio.create_task(consumer.run())
        try:
            yield
        finally:
            consumer.stop()
            await running

    app = create_app(
        Settings(database=database_url), alongside=alongside if worker else None, tracing=tracing
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://taskq") as client:
            yield client, app.state.queue


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def names_span(trace_context: str | None, span: ReadableSpan) -> bool:
    trace_id, span_id = hex_ids(span)
    return trace_context is not None and trace_context.startswith(f"00-{trace_id}-{span_id}-")


async def test_post_tasks_is_a_send_span_under_the_callers_traceparent(
    database_url: str, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    async with traced_app(database_url, provider) as (client, queue):
        answer = await client.post(
            "/tasks",
            json={"action": "uppercase", "queue": "mail"},
            headers={"traceparent": TRACEPARENT, "tracestate": "vendor=x"},
        )
        assert answer.status_code == 202
        task = await queue.get(answer.json()["id"])
    (send,) = spans.get_finished_spans()
    assert send.name == "send mail"
    assert send.kind is SpanKind.PRODUCER
    assert send.parent is not None
    assert format(send.parent.span_id, "016x") == CLIENT_SPAN
    assert hex_ids(send)[0] == CLIENT_TRACE
    assert dict(send.attributes) == {
        "messaging.system": "taskq",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": "mail",
        "messaging.message.id": answer.json()["id"],
        "taskq.action": "uppercase",
    }
    assert task is not None
    assert names_span(task.trace_context, send)
    assert task.trace_context is not None
    assert task.trace_context.endswith("\nvendor=x"), "the caller's tracestate goes along"


async def test_without_a_traceparent_the_send_span_starts_a_trace(
    database_url: str, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    async with traced_app(database_url, provider) as (client, queue):
        answer = await client.post("/tasks", json={"action": "uppercase"})
        task = await queue.get(answer.json()["id"])
    (send,) = spans.get_finished_spans()
    assert send.parent is None
    assert task is not None
    assert names_span(task.trace_context, send)


async def test_a_refused_submission_records_its_error(
    database_url: str, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    async with traced_app(database_url, provider) as (client, _):
        body: dict[str, Any] = {"action": "uppercase", "data": {"n": 1}}
        headers = {"idempotency-key": "k"}
        assert (await client.post("/tasks", json=body, headers=headers)).status_code == 202
        body["data"] = {"n": 2}
        assert (await client.post("/tasks", json=body, headers=headers)).status_code == 409
    _, refused = sorted(spans.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert refused.status.status_code is StatusCode.ERROR
    assert refused.events[0].name == "exception"


async def test_a_batch_is_one_send_span_with_a_create_span_per_task(
    database_url: str, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    async with traced_app(database_url, provider) as (client, queue):
        answer = await client.post(
            "/tasks/batch",
            json={"tasks": [{"action": "uppercase"}, {"action": "sum", "queue": "maths"}]},
            headers={"traceparent": TRACEPARENT},
        )
        assert answer.status_code == 202
        ids = [t["id"] for t in answer.json()["tasks"]]
        tasks = [await queue.get(i) for i in ids]
    (send,) = [s for s in spans.get_finished_spans() if s.name == "send"]
    assert send.kind is SpanKind.CLIENT
    assert send.attributes["messaging.batch.message_count"] == 2
    assert "messaging.destination.name" not in send.attributes, "two queues: none named"
    assert send.parent is not None
    assert format(send.parent.span_id, "016x") == CLIENT_SPAN
    creates = [s for s in spans.get_finished_spans() if s.name.startswith("create ")]
    assert [s.name for s in creates] == ["create default", "create maths"]
    for create, task_id, task in zip(creates, ids, tasks, strict=True):
        assert create.kind is SpanKind.PRODUCER
        assert create.parent is not None
        assert create.parent.span_id == send.context.span_id
        assert create.attributes["messaging.message.id"] == task_id
        assert create.attributes["messaging.operation.type"] == "create"
        assert task is not None
        assert names_span(task.trace_context, create)


async def test_one_trace_from_the_request_to_the_handlers_own_span(
    database_url: str, provider: TracerProvider, spans: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("handlers")

    def resize(data: dict[str, Any]) -> str:
        with tracer.start_as_current_span("resize image"):
            return "done"

    async with traced_app(database_url, provider, Action("resize", resize), worker=True) as (
        client,
        queue,
    ):
        answer = await client.post(
            "/tasks", json={"action": "resize"}, headers={"traceparent": TRACEPARENT}
        )
        task_id = answer.json()["id"]

        async def completed() -> bool:
            task = await queue.get(task_id)
            return task is not None and task.status is Status.COMPLETED

        await until(completed, 10, what="the task to complete")
    by_name = {s.name: s for s in spans.get_finished_spans()}
    send, process, handler = (
        by_name["send default"],
        by_name["process default"],
        by_name["resize image"],
    )
    assert {hex_ids(s)[0] for s in (send, process, handler)} == {CLIENT_TRACE}
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert handler.parent is not None
    assert handler.parent.span_id == process.context.span_id
