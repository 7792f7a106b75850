"""``taskq.Client`` against a real `taskq run`, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest
from tests.system.procs import TaskqProcess

import taskq
from taskq.api.wire import TaskOut
from taskq.client import Accepted, Task
from taskq.task import Status

pytestmark = pytest.mark.system


class CountingTransport(httpx.HTTPTransport):
    """The real transport, remembering each request it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return super().handle_request(request)


def test_submit_then_wait_returns_the_completed_task(client: taskq.Client) -> None:
    accepted = client.submit("uppercase", {"text": "hi"}, queue="emails", priority=5)
    assert isinstance(accepted, Accepted)
    assert accepted.status is Status.QUEUED
    assert accepted.created

    task = client.wait(accepted.id, timeout=30)

    assert isinstance(task, Task)
    assert task.status is Status.COMPLETED
    assert task.result == {"output": "HI"}
    assert (task.action, task.payload, task.queue, task.priority) == (
        "uppercase",
        {"text": "hi"},
        "emails",
        5,
    )
    assert task.is_finished
    assert task.processed_at is not None
    assert task.processed_at.tzinfo is UTC
    assert task.created_at is not None
    assert task.created_at <= task.processed_at <= datetime.now(UTC)
    assert client.get(accepted.id) == task


def test_a_failing_task_waits_to_failed_with_its_error(client: taskq.Client) -> None:
    accepted = client.submit("sum", {"numbers": ["a"]})

    task = client.wait(accepted.id, timeout=30)

    assert task.status is Status.FAILED
    assert task.error == "sum: data.numbers must be a list of numbers"
    assert [e.attempt for e in task.errors] == [1]
    assert task.errors[0].error == task.error
    assert isinstance(task.errors[0].at, datetime)


def test_list_iterates_over_every_page_fetching_them_as_it_goes(service: TaskqProcess) -> None:
    transport = CountingTransport()
    with taskq.Client(service.url, transport=transport) as client:
        ids = [client.submit("noop", {"n": n}, delay=3600).id for n in range(7)]
        client.submit("other", delay=3600)
        transport.sent.clear()

        tasks = client.list(action="noop", page_size=2)
        assert transport.sent == []  # nothing asked before the first task is wanted
        first = next(tasks)
        assert len(transport.sent) == 1
        rest = list(tasks)

        assert [first.id, *(t.id for t in rest)] == ids[::-1]  # newest first
        assert len(transport.sent) == 4  # 2 + 2 + 2 + 1
        cursors = [r.url.params.get("cursor") for r in transport.sent]
        assert cursors[0] is None
        assert all(cursors[1:])
        assert {r.url.params["limit"] for r in transport.sent} == {"2"}
        assert len(list(client.list(status=["queued", "running"], page_size=3))) == 8
        assert list(client.list(status="completed")) == []


def test_cancel_a_queued_task_but_not_a_completed_one(client: taskq.Client) -> None:
    accepted = client.submit("uppercase", {"text": "later"}, delay=3600)

    task = client.cancel(accepted.id)

    assert task.status is Status.CANCELLED
    assert client.wait(accepted.id, timeout=1).status is Status.CANCELLED
    done = client.wait(client.submit("uppercase", {"text": "now"}).id, timeout=30)
    with pytest.raises(taskq.Conflict) as caught:
        client.cancel(done.id)
    assert caught.value.status_code == 409
    assert "already completed" in caught.value.error


def test_retry_queues_a_failed_task_again(client: taskq.Client) -> None:
    failed = client.wait(client.submit("sum", {"numbers": ["a"]}).id, timeout=30)
    assert failed.status is Status.FAILED

    again = client.retry(failed.id)

    assert (again.id, again.status, again.created) == (failed.id, Status.QUEUED, False)
    assert client.wait(failed.id, timeout=30).status is Status.FAILED
    done = client.wait(client.submit("uppercase", {"text": "x"}).id, timeout=30)
    with pytest.raises(taskq.Conflict):
        client.retry(done.id)


def test_errors_carry_the_apis_text_field_and_status(client: taskq.Client) -> None:
    with pytest.raises(taskq.NotFound) as not_found:
        client.get("00000000-0000-4000-8000-000000000000")
    assert (not_found.value.status_code, not_found.value.error) == (404, "task not found")
    assert str(not_found.value) == "task not found (HTTP 404)"
    assert isinstance(not_found.value, taskq.ClientError)

    with pytest.raises(taskq.InvalidRequest) as invalid:
        client.submit("uppercase", {"text": "x"}, priority=2**40)
    assert invalid.value.status_code == 422
    assert invalid.value.field == "priority"
    assert invalid.value.error

    with pytest.raises(taskq.InvalidRequest) as bad_status:
        list(client.list(status="sleeping"))
    assert bad_status.value.status_code == 400

    with pytest.raises(taskq.NotFound):
        client.cancel("no/such/task")  # the id is one path segment, whatever it holds


def test_a_callers_idempotency_key_answers_the_original_task(client: taskq.Client) -> None:
    first = client.submit("uppercase", {"text": "once"}, idempotency_key="order-17")
    second = client.submit("uppercase", {"text": "once"}, idempotency_key="order-17")

    assert first.created
    assert (second.id, second.created) == (first.id, False)
    with pytest.raises(taskq.Conflict):
        client.submit("uppercase", {"text": "other"}, idempotency_key="order-17")
    assert len(list(client.list(action="uppercase"))) == 1


def test_wait_past_its_timeout_raises_a_timeout_error_naming_the_task(
    client: taskq.Client,
) -> None:
    accepted = client.submit("uppercase", {"text": "later"}, delay=3600)
    started = time.monotonic()

    with pytest.raises(taskq.WaitTimeout) as caught:
        client.wait(accepted.id, timeout=1.5)

    assert 1.4 <= time.monotonic() - started < 5
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, taskq.ClientError)
    assert caught.value.task.id == accepted.id
    assert caught.value.task.status is Status.QUEUED
    assert str(caught.value) == f"task {accepted.id} is still queued after waiting 1.5 s"


def test_stats_and_queues_are_typed(client: taskq.Client) -> None:
    client.wait(client.submit("uppercase", {"text": "x"}, queue="emails").id, timeout=30)

    stats = client.stats()
    queues = client.queues()

    assert stats.counts.completed == 1
    assert [w.window_s for w in stats.windows] == [60, 300, 900]
    assert stats.generated_at.tzinfo is UTC
    assert [q.name for q in queues.queues] == ["emails"]
    assert queues.queues[0].counts.completed == 1
    assert not queues.more


def test_a_service_that_is_not_there_is_a_connection_failure_after_the_retries() -> None:
    from tests.system.procs import free_port

    started = time.monotonic()
    client = taskq.Client(f"http://127.0.0.1:{free_port()}", "tq_secret", retries=2)
    with client, pytest.raises(taskq.ConnectionFailed) as caught:
        client.get("x")
    assert time.monotonic() - started < 5  # backoff is bounded
    assert isinstance(caught.value, taskq.Unavailable)
    assert caught.value.status_code is None
    assert "tried 3 times" in str(caught.value)
    assert "tq_secret" not in str(caught.value)


def test_the_task_record_has_every_field_of_the_api() -> None:
    assert Task.__struct_fields__ == TaskOut.__struct_fields__


def test_the_client_loads_no_server_code() -> None:
    # (not click: httpx imports it for its own command line when it is installed)
    probe = (
        "import sys, taskq; c = taskq.Client; a = taskq.AsyncClient; e = taskq.NotFound; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', "
        "'psycopg', 'psycopg_pool', 'yoyo', 'pydantic', 'croniter', 'sqlite3'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
