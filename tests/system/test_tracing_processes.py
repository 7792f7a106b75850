"""One trace across real processes: `taskq api` and `taskq worker` traced through the
standard OpenTelemetry environment (``OTEL_TRACES_EXPORTER=console``: each process writes
its spans to its stdout, which is its log here), from a client's ``traceparent`` to the
``send`` span, the worker's ``process`` span and the handler's own span; a retried task's
second attempt links to the submission instead."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.waiting import wait_until
from tests.system.procs import Processes, TaskqProcess

pytestmark = pytest.mark.system

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"

ACTIONS = textwrap.dedent(
    """
    from opentelemetry import trace
    import taskq

    tracer = trace.get_tracer("traced_actions")
    failed = set()

    @taskq.action("resize")
    def resize(data):
        with tracer.start_as_current_span("resize image") as span:
            span.set_attribute("image.width", data["width"])
            return {"width": data["width"] // 2}

    @taskq.action("flaky", backoff=0.01)
    async def flaky(data):
        if data["key"] not in failed:
            failed.add(data["key"])
            raise RuntimeError("first attempt fails")
        return "ok"
    """
)


def spans_in(log: str) -> list[dict[str, Any]]:
    """The spans the console exporter wrote among a process's log lines."""
    decoder = json.JSONDecoder()
    found = []
    at = log.find("{")
    while at != -1:
        if at == 0 or log[at - 1] == "\n":
            try:
                value, end = decoder.raw_decode(log, at)
            except json.JSONDecodeError:
                end = at + 1
            else:
                if isinstance(value, dict) and "context" in value:
                    found.append(value)
            at = log.find("{", max(end, at + 1))
        else:
            at = log.find("{", at + 1)
    return found


def hex_id(value: str | None) -> str | None:
    return None if value is None else value.removeprefix("0x")


def span_named(proc: TaskqProcess, name: str, **attributes: Any) -> list[dict[str, Any]]:
    return [
        s
        for s in spans_in(proc.log())
        if s["name"] == name and all(s["attributes"].get(k) == v for k, v in attributes.items())
    ]


def test_one_trace_from_the_request_to_the_handlers_span_across_processes(
    procs: Processes, database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "traced_actions.py").write_text(ACTIONS)
    env = {"OTEL_TRACES_EXPORTER": "console"}
    api = procs.start(
        "api", "--database", database_url, name="api", env={**env, "OTEL_SERVICE_NAME": "shop-api"}
    )
    api.wait_ready()
    worker = procs.start(
        "worker",
        "--database",
        database_url,
        "--actions",
        "traced_actions",
        "--poll-interval-s",
        "0.05",
        http=False,
        name="worker",
        env={**env, "OTEL_SERVICE_NAME": "shop-worker"},
    )
    worker.wait_log("started: concurrency=")

    traceparent = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    resize = httpx.post(
        f"{api.url}/tasks",
        json={"action": "resize", "data": {"width": 640}},
        headers={"traceparent": traceparent},
        timeout=10,
    ).json()["id"]
    flaky = httpx.post(
        f"{api.url}/tasks", json={"action": "flaky", "data": {"key": "a"}}, timeout=10
    ).json()["id"]
    for task_id in (resize, flaky):
        done = httpx.get(f"{api.url}/tasks/{task_id}?wait=20", timeout=30).json()
        assert done["status"] == "completed", done

    # the request's span, in the API's output
    (send,) = span_named(api, "send default", **{"messaging.message.id": resize})
    assert hex_id(send["context"]["trace_id"]) == CLIENT_TRACE
    assert hex_id(send["parent_id"]) == CLIENT_SPAN
    assert send["kind"] == "SpanKind.PRODUCER"
    assert send["resource"]["attributes"]["service.name"] == "shop-api"

    # the worker's span for the attempt: a child of it, in the same trace
    (process,) = wait_until(
        lambda: span_named(worker, "process default", **{"messaging.message.id": resize}),
        10,
        what="the worker's process span",
        details=worker.describe,
    )
    assert hex_id(process["context"]["trace_id"]) == CLIENT_TRACE
    assert process["parent_id"] == send["context"]["span_id"]
    assert process["kind"] == "SpanKind.CONSUMER"
    assert process["attributes"]["messaging.system"] == "taskq"
    assert process["attributes"]["taskq.attempt"] == 1
    assert process["resource"]["attributes"]["service.name"] == "shop-worker"

    # the handler's own span (made with the global tracer, in a thread): a child of that
    (handler,) = span_named(worker, "resize image")
    assert handler["parent_id"] == process["context"]["span_id"]
    assert hex_id(handler["context"]["trace_id"]) == CLIENT_TRACE

    # a retried task: its second attempt starts a trace of its own, linked to the send
    (flaky_send,) = span_named(api, "send default", **{"messaging.message.id": flaky})

    def both_attempts() -> list[dict[str, Any]] | None:
        found = span_named(worker, "process default", **{"messaging.message.id": flaky})
        return found if len(found) == 2 else None

    attempts = wait_until(
        both_attempts,
        10,
        what="two process spans of the flaky task",
        details=worker.describe,
    )
    first, second = sorted(attempts, key=lambda s: s["attributes"]["taskq.attempt"])
    assert first["parent_id"] == flaky_send["context"]["span_id"]
    assert first["status"]["status_code"] == "ERROR"
    assert first["events"][0]["name"] == "exception"
    assert second["parent_id"] is None
    assert second["context"]["trace_id"] != flaky_send["context"]["trace_id"]
    (link,) = second["links"]
    assert link["context"]["span_id"] == flaky_send["context"]["span_id"]
    assert link["context"]["trace_id"] == flaky_send["context"]["trace_id"]

    # the worker's line about the failed attempt carries the submission's trace id
    flaky_trace = hex_id(flaky_send["context"]["trace_id"])
    assert f"task_id={flaky} action=flaky queue=default attempt=1 trace_id={flaky_trace}" in (
        worker.log()
    )
