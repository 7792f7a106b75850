"""``GET /queues`` and ``GET /stats``: the store at a glance, each answer computed at most
once per second per process (``stats_cache.py``) however many clients poll it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from taskq.api.responses import json_response
from taskq.api.schema import iso
from taskq.api.stats_cache import Cached
from taskq.api.wire import (
    Counts,
    PercentilesOut,
    QueueOut,
    QueuesOut,
    QueueWindowOut,
    StatsOut,
    StatsWindowOut,
)
from taskq.flow import QueueSettings
from taskq.queue import Queue
from taskq.stats import MAX_QUEUES, WINDOWS_S, Percentiles, QueueList, StoreStats
from taskq.task import Status


class StatsAnswers:
    """The cached answers of one app: made when its queue opens."""

    def __init__(self, queue: Queue) -> None:
        self.queues: Cached[QueuesOut] = Cached(lambda: _queues(queue))
        self.stats: Cached[StatsOut] = Cached(lambda: _stats(queue))


async def list_queues(request: Request) -> Response:
    """GET /queues: each queue's counts, oldest ready task and throughput."""
    answers: StatsAnswers = request.app.state.stats
    return json_response(await answers.queues.get())


async def store_stats(request: Request) -> Response:
    """GET /stats: counts, throughput, wait and run times of the whole store."""
    answers: StatsAnswers = request.app.state.stats
    return json_response(await answers.stats.get())


async def _queues(queue: Queue) -> QueuesOut:
    return queues_out(await queue.queue_stats(), await queue.queue_settings())


async def _stats(queue: Queue) -> StatsOut:
    return stats_out(await queue.stats())


def _counts(counts: dict[Status, int]) -> Counts:
    return Counts(**{status.value: counts.get(status, 0) for status in Status})


def _percentiles(found: Percentiles) -> PercentilesOut:
    return PercentilesOut(found.p50, found.p95)


def queues_out(found: QueueList, settings: dict[str, QueueSettings] | None = None) -> QueuesOut:
    """The queues that have tasks, each with its flow control (``settings``), and the
    queues that have settings but no task yet (zero counts), by name, at most
    MAX_QUEUES."""
    settings = settings or {}
    queues = [
        QueueOut(
            q.name,
            _counts(q.counts),
            q.oldest_ready_age_s,
            [
                QueueWindowOut(
                    w.window_s,
                    w.completed,
                    w.failed,
                    w.completed / w.window_s,
                    w.failed / w.window_s,
                )
                for w in q.throughput
            ],
            *_flow(settings.get(q.name)),
        )
        for q in found.queues
    ]
    listed = {q.name for q in found.queues}
    last = found.queues[-1].name if found.more and found.queues else None
    queues += [
        QueueOut(name, _counts({}), None, [_idle(w) for w in WINDOWS_S], *_flow(s))
        for name, s in settings.items()
        if name not in listed and (last is None or name < last)
    ]
    queues.sort(key=lambda q: q.name)
    return QueuesOut(
        queues[:MAX_QUEUES],
        found.more or len(queues) > MAX_QUEUES,
        iso(found.generated_at) or "",
    )


def _flow(settings: QueueSettings | None) -> tuple[bool, int | None, str | None, int | None]:
    if settings is None:
        return False, None, None, None
    rate = None if settings.rate is None else str(settings.rate)
    return settings.paused, settings.concurrency, rate, settings.key_concurrency


def _idle(window_s: int) -> QueueWindowOut:
    return QueueWindowOut(window_s, 0, 0, 0.0, 0.0)


def stats_out(found: StoreStats) -> StatsOut:
    return StatsOut(
        _counts(found.counts),
        [
            StatsWindowOut(
                w.window_s,
                w.completed,
                w.failed,
                w.completed / w.window_s,
                w.failed / w.window_s,
                _percentiles(w.wait_s),
                _percentiles(w.run_s),
                w.sampled,
            )
            for w in found.windows
        ],
        iso(found.generated_at) or "",
    )
