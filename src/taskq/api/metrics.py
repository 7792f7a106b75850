"""``GET /metrics``: Prometheus' text format, and the HTTP middleware that times requests.

The task figures come from the store (``taskq/metrics.py``): gauges from the cached
``GET /queues`` answer (``api/stats.py``) and the workers table, counters and histograms
from the rows that finished and were submitted since the previous scrape. Only the HTTP
figures are this process's own: each API process counts the requests it served.

Each app has its own registry (``Metrics``), never prometheus_client's global one: a
process may build many apps (the tests do).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskq.api.stats import StatsAnswers
from taskq.api.wire import QueuesOut
from taskq.metrics import BUCKETS_S, StoreMetrics, Totals
from taskq.metrics import Histogram as Tallied
from taskq.queue import Queue
from taskq.roster import WorkerInfo
from taskq.task import Status

HTTP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# the route label of a request no route matched (a 404): never the raw path
UNMATCHED = "unmatched"
# the queue label of a worker that serves every queue
EVERY_QUEUE = "*"
# the methods that keep their own label: a client may send any token as a method
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """One app's metrics: the store's counters (counted from when the app was made) and
    the HTTP requests it served."""

    def __init__(self, store: StoreMetrics | None = None) -> None:
        self.store = store or StoreMetrics()
        self.registry = CollectorRegistry()
        self.http = Histogram(
            "taskq_http_request_duration_seconds",
            "HTTP requests served by this API process, by route template and status "
            "(_count is the number of requests)",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS_S,
            registry=self.registry,
        )
        # each label set's child, found once: labels() validates and locks on every call
        # (bounded: the methods, route templates and statuses)
        self._timed: dict[tuple[str, str, int], Histogram] = {}

    def time_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request that took ``seconds``."""
        key = (method, route, status)
        child = self._timed.get(key)
        if child is None:
            child = self._timed[key] = self.http.labels(method, route, str(status))
        child.observe(seconds)


class MeasureRequests:
    """Times each HTTP request into its app's ``Metrics`` (``app.state.metrics``), labelled
    with the route's template (``/tasks/{task_id}``), never the raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                method = scope["method"] if scope["method"] in METHODS else "other"
                metrics.time_request(method, _route(scope), status, time.perf_counter() - started)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    path: str = getattr(route, "path", UNMATCHED)
    return path


async def get_metrics(request: Request) -> Response:
    """GET /metrics: every figure, in Prometheus' text format."""
    found: Metrics = request.app.state.metrics
    queue: Queue = request.app.state.queue
    answers: StatsAnswers = request.app.state.stats
    totals = await found.store.refresh(queue.driver)
    store = StoreFigures(totals, await answers.queues.get(), await queue.workers())
    body = generate_latest(found.registry) + generate_latest(store)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


@dataclass
class StoreFigures:
    """The store's figures of one scrape, as metric families (a prometheus_client
    collector)."""

    totals: Totals
    queues: QueuesOut
    workers: list[WorkerInfo]

    def collect(self) -> Iterator[Metric]:
        yield from self._gauges()
        t = self.totals
        pair = ["queue", "action"]
        submitted = CounterMetricFamily(
            "taskq_tasks_submitted", "Tasks stored (accepted submissions)", labels=pair
        )
        for labels, n in sorted(t.submitted.items()):
            submitted.add_metric(labels, n)
        finished = CounterMetricFamily(
            "taskq_tasks_finished",
            "Tasks that ended completed, failed or cancelled (by processed_at)",
            labels=[*pair, "status"],
        )
        for labels3, n in sorted(t.finished.items()):
            finished.add_metric(labels3, n)
        attempts = CounterMetricFamily(
            "taskq_task_attempts",
            "Attempts of the tasks that finished, counted when the task finishes: the last "
            "one succeeded, failed or was cancelled as the task ended; every earlier one "
            "failed",
            labels=[*pair, "outcome"],
        )
        for labels3, n in sorted(t.attempts.items()):
            attempts.add_metric(labels3, n)
        recovered = CounterMetricFamily(
            "taskq_leases_recovered",
            "Running attempts that lease rescue ended (their worker was lost), counted when "
            "the task finishes",
            labels=pair,
        )
        for labels, n in sorted(t.recovered.items()):
            recovered.add_metric(labels, n)
        yield from (submitted, finished, attempts, recovered)
        yield _histogram(
            "taskq_task_wait_seconds",
            "Time from run_at to the start of the last attempt, of the completed and failed tasks",
            t.wait,
        )
        yield _histogram(
            "taskq_task_run_seconds",
            "Time from the start of the last attempt to processed_at, of the completed and "
            "failed tasks",
            t.run,
        )

    def _gauges(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily(
            "taskq_tasks", "Tasks in the store now, by queue and status", labels=["queue", "status"]
        )
        oldest = GaugeMetricFamily(
            "taskq_queue_oldest_ready_age_seconds",
            "Seconds since the run_at of the queue's oldest task that is queued, due and held "
            "by no worker",
            labels=["queue"],
        )
        for q in self.queues.queues:
            for status in Status:
                tasks.add_metric([q.name, status.value], getattr(q.counts, status.value))
            if q.oldest_ready_age_s is not None:
                oldest.add_metric([q.name], q.oldest_ready_age_s)
        workers = GaugeMetricFamily(
            "taskq_workers",
            'Live workers, by the queue they serve ("*": every queue)',
            labels=["queue"],
        )
        slots = GaugeMetricFamily(
            "taskq_worker_slots",
            'Concurrent tasks the live workers can run, by queue ("*": every queue)',
            labels=["queue"],
        )
        count: dict[str, int] = {}
        concurrency: dict[str, int] = {}
        for w in self.workers:
            for name in w.queues if w.queues is not None else [EVERY_QUEUE]:
                count[name] = count.get(name, 0) + 1
                concurrency[name] = concurrency.get(name, 0) + w.concurrency
        for name in sorted(count):
            workers.add_metric([name], count[name])
            slots.add_metric([name], concurrency[name])
        yield from (tasks, oldest, workers, slots)


def _histogram(
    name: str, documentation: str, found: dict[tuple[str, str], Tallied]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=["queue", "action"])
    for labels, h in sorted(found.items()):
        buckets = [(_le(b), float(n)) for b, n in zip(BUCKETS_S, h.le, strict=True)]
        family.add_metric(list(labels), [*buckets, ("+Inf", float(h.count))], h.sum_s)
    return family


def _le(bound: float) -> str:
    return repr(bound)
