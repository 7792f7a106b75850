"""``Client``: the taskq HTTP API from blocking code."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from taskq.client import calls
from taskq.client.calls import MAX_WAIT_S, POLL_S, Call
from taskq.client.errors import WaitTimeout
from taskq.client.wire import Accepted, Queues, Stats, Submission, Task

T = TypeVar("T")


class Client:
    """A client of one taskq service, with one connection pool; close it, or use it in a
    ``with`` block.

    ``timeout`` bounds each step of a request (connect, send, read), in seconds. A request
    that could not connect, or that the service answered 503, is sent again up to
    ``retries`` times with a growing pause; reads and submissions also when the connection
    broke before the answer came (a submission carries an idempotency key, so it is never
    stored twice).
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout
        self.retries = retries
        self._has_key = bool(api_key)
        self._http = httpx.Client(
            base_url=self.url, headers=calls.headers(api_key), transport=transport
        )

    def __repr__(self) -> str:
        key = ", api_key=***" if self._has_key else ""
        return f"{type(self).__name__}(url={self.url!r}{key})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def submit(
        self,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        delay: float | None = None,
        run_at: datetime | str | float | None = None,
        idempotency_key: str | None = None,
        unique_key: str | None = None,
        concurrency_key: str | None = None,
    ) -> Accepted:
        """Submit one task (``POST /tasks``); its id and status once it is stored.

        ``timeout`` is the task's, in seconds per attempt; ``run_at`` a datetime (naive: UTC),
        ISO 8601 text or epoch seconds. Without ``idempotency_key`` the call makes one of its
        own, so that its retries store one task at most. With ``unique_key``, held by a task
        that is queued or running, that task is answered (``created`` False). With
        ``concurrency_key``, at most the queue's ``key_concurrency`` (1 unless set) of its
        tasks holding that key run at once.
        """
        options = {
            "data": data,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "timeout": timeout,
            "delay": delay,
            "run_at": run_at,
            "unique_key": unique_key,
            "concurrency_key": concurrency_key,
        }
        return self._send(calls.submit(action, options, idempotency_key))

    def submit_many(self, tasks: Iterable[Submission]) -> builtins.list[Accepted]:
        """Submit tasks in order (``POST /tasks/batch``, 1000 a request, each all or
        nothing); each keeps its ``idempotency_key`` or gets one. An error's ``field``
        names the task's index in ``tasks`` (``tasks[1003].action``)."""
        accepted: builtins.list[Accepted] = []
        for call in calls.submit_batches(tasks):
            batch = self._send(call)
            accepted += batch
        return accepted

    def get(self, task_id: str) -> Task:
        """The task as it is now (``NotFound`` if no task has this id)."""
        return self._send(calls.get(task_id))

    def wait(self, task_id: str, timeout: float | None = 60.0) -> Task:
        """The task once it is finished (completed, failed or cancelled); ``WaitTimeout``
        after ``timeout`` seconds (None: no limit). The service answers as soon as the task
        finishes: nothing is polled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = MAX_WAIT_S if deadline is None else deadline - time.monotonic()
            wait_s = min(left, MAX_WAIT_S)
            asked = time.monotonic()
            task = self._send(calls.get(task_id, wait_s if wait_s >= 0.01 else None))
            now = time.monotonic()
            if task.is_finished:
                return task
            if deadline is not None and now >= deadline - 0.01:
                raise WaitTimeout(task, timeout or 0.0)
            if now - asked < wait_s / 2:  # answered at once: a service without ?wait=
                time.sleep(POLL_S if deadline is None else min(POLL_S, deadline - now))

    def list(
        self,
        status: str | Iterable[str] | None = None,
        queue: str | Iterable[str] | None = None,
        action: str | Iterable[str] | None = None,
        *,
        created_after: datetime | str | float | None = None,
        created_before: datetime | str | float | None = None,
        q: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Task]:
        """Every task that matches, newest first, read a page of ``page_size`` at a time as
        the iteration goes. ``status``, ``queue``, ``action``: one value or several (any of
        them matches); ``q``: text the task's ``error`` contains."""
        filters = calls.list_filters(
            status=status,
            queue=queue,
            action=action,
            created_after=created_after,
            created_before=created_before,
            q=q,
        )
        cursor: str | None = None
        while True:
            page = self._send(calls.list_page(filters, page_size, cursor))
            yield from page.tasks
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel(self, task_id: str) -> Task:
        """Cancel a queued task, or ask a running one to stop (``cancel_requested``);
        ``Conflict`` if it already finished."""
        return self._send(calls.cancel(task_id))

    def retry(self, task_id: str) -> Accepted:
        """Queue a failed or cancelled task again, with a fresh attempt budget; ``Conflict``
        otherwise."""
        return self._send(calls.retry(task_id))

    def stats(self) -> Stats:
        """The whole store's tasks by status, and throughput, wait and run times."""
        return self._send(calls.stats())

    def queues(self) -> Queues:
        """The queues that have tasks, each with its counts and throughput."""
        return self._send(calls.queues())

    def _send(self, call: Call[T]) -> T:
        """Send ``call``, again after a failure worth another try (bounded); its answer."""
        for retry in range(self.retries + 1):
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    content=call.body,
                    headers=call.headers,
                    timeout=calls.timeout(call, self.timeout_s),
                )
            except httpx.TransportError as error:
                if retry == self.retries or not calls.may_retry(call, error):
                    raise calls.connection_failed(call, error, retry + 1) from error
                why = type(error).__name__
            else:
                if retry == self.retries or not calls.answers_unavailable(response.status_code):
                    return calls.read(call, response.status_code, response.content)
                why = "503"
            pause_s = calls.backoff_s(retry)
            calls.retrying(call, why, retry, self.retries, pause_s)
            time.sleep(pause_s)
        raise AssertionError("unreachable")  # the last try returns or raises
