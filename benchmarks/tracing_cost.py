"""What tracing costs: CPU time per task with tracing off and on, in one process.

    .venv/bin/python -m benchmarks.tracing_cost [--tasks 5000] [--reps 5]
        [--database memory://|PATH|postgresql://…]

Each run submits ``--tasks`` tasks one per call, 100 calls at a time, through the hook
``POST /tasks`` runs (``tracing.sending``: a span, its context stored with the task), then
a worker (128 slots, no prefetch, as ``benchmarks/run`` has it) drains them through the
hook it runs per attempt (``tracing.processing``) and an async no-op handler. The CPU time
of the process (``time.process_time``) is read around each phase. Modes, alternated run by
run so the machine's drift hits each alike:

* ``off``: the default, ``NO_TRACING`` (OpenTelemetry not even imported by taskq);
* ``on``: the SDK with every span sampled, sent in batches (a background thread, whose
  CPU time counts too) to an exporter that drops them (what an OTLP exporter costs beyond
  that is its serialisation and the network);
* ``unsampled``: the SDK with a sampler that keeps nothing (``OTEL_TRACES_SAMPLER=always_off``
  or a parent that was not sampled): spans and contexts are made, nothing is recorded.

The default store is ``memory://``, where taskq's own work is smallest, so the share
tracing takes is the largest it can be; on SQLite, fsyncs and the writer dominate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskq import migrations
from taskq.actions import Action, Actions
from taskq.drivers import is_memory_url, is_postgres_url
from taskq.queue import Queue
from taskq.task import NewTask
from taskq.tracing import NO_TRACING, Tracing
from taskq.worker import Worker

BATCH = 100


def tracings() -> dict[str, Tracing]:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from taskq.otel import OtelTracing

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    # a queue long enough that no span is dropped (the default 2,048 overflows at these
    # rates, and a dropped span costs less than an exported one)
    sampled = TracerProvider()
    sampled.add_span_processor(BatchSpanProcessor(Dropping(), max_queue_size=1_000_000))
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    unsampled.add_span_processor(BatchSpanProcessor(Dropping()))
    return {"off": NO_TRACING, "on": OtelTracing(sampled), "unsampled": OtelTracing(unsampled)}


async def one_run(database: str, tracing: Tracing, n: int) -> tuple[float, float]:
    """CPU µs per task to submit ``n`` tasks, then to drain them."""
    done = asyncio.Event()
    finished = 0

    async def noop(data: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        if finished == n:
            done.set()

    noop_action = Action("noop", noop)
    async with Queue.connect(database, sqlite_synchronous="NORMAL") as queue:

        async def submit() -> None:
            with tracing.sending([NewTask(action="noop")], {}) as sending:
                sending.stored(await queue.enqueue_many(sending.tasks))

        cpu = time.process_time()
        for _ in range(0, n, BATCH):
            await asyncio.gather(*(submit() for _ in range(BATCH)))
        submitted = time.process_time() - cpu

        worker = Worker(
            queue, Actions([noop_action], noop_action), concurrency=128, prefetch=0, tracing=tracing
        )
        cpu = time.process_time()
        running = asyncio.create_task(worker.run())
        await done.wait()
        worker.stop()
        await running
        drained = time.process_time() - cpu
    return submitted / n * 1e6, drained / n * 1e6


def fresh(database: str, workdir: Path, k: int) -> str:
    if is_memory_url(database):
        from taskq.drivers import memory

        memory.forget(database)
        return database
    if is_postgres_url(database):
        import psycopg

        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("TRUNCATE taskq_tasks, taskq_workers RESTART IDENTITY")
        return database
    path = str(workdir / f"run{k}.db")
    migrations.migrate(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--database", default="memory://tracing-cost")
    args = parser.parse_args()
    if is_postgres_url(args.database):
        migrations.migrate(args.database)
    modes = tracings()
    results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        k = 0
        asyncio.run(one_run(fresh(args.database, Path(tmp), k), NO_TRACING, 500))  # warm up
        for _ in range(args.reps):
            for mode, tracing in modes.items():
                k += 1
                database = fresh(args.database, Path(tmp), k)
                results[mode].append(asyncio.run(one_run(database, tracing, args.tasks)))
    print(f"{args.tasks} tasks, {args.reps} runs per mode, store {args.database}")
    print("CPU µs per task, median [min-max]")
    print(f"{'mode':<10} {'submit':>22} {'drain':>22} {'total':>8}")
    base = None
    for mode, runs in results.items():
        submit = [s for s, _ in runs]
        drain = [d for _, d in runs]
        total = statistics.median(s + d for s, d in runs)
        base = base or total
        print(
            f"{mode:<10} {_cell(submit):>22} {_cell(drain):>22} {total:8.1f}"
            f"  ({total / base - 1:+.0%})"
        )


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


if __name__ == "__main__":
    main()
