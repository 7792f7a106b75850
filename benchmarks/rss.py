"""Workload 7: one `taskq worker` process's RSS while it runs `sizes.rss_tasks` tasks, on
SQLite (``rss``) and, when taskq-pg is benchmarked, on PostgreSQL (``rss_pg``).

The producer (this process) keeps a backlog of at most BACKLOG queued tasks, topping it up with
`Queue.enqueue_many` batches, so the run measures the worker, not a huge queue. RSS is sampled
with psutil every SAMPLE_S seconds. "flat" means the end RSS is within max(10 %, 10 MiB) of the
RSS after the first 5 % of tasks (start-up imports and caches excluded).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import psutil

from benchmarks import procs
from benchmarks.config import BULK_BATCH, WORK_DIR, Sizes, payload
from benchmarks.progress import Progress

BACKLOG = 20_000
SAMPLE_S = 0.5
STALL_S = 120.0
MIB = 2**20
DB = WORK_DIR / "taskq-rss" / "tasks.db"
Store = Literal["sqlite", "postgres"]


async def _pending(queue: Any) -> int:
    from taskq import Status

    counts = await queue.counts()
    return int(counts.get(Status.QUEUED, 0) + counts.get(Status.RUNNING, 0))


async def _feed(url: str, total: int, progress: Progress, pid: int) -> dict[str, Any]:
    import taskq

    worker = psutil.Process(pid)
    samples: list[tuple[float, int, int]] = []  # (seconds, tasks done, rss bytes)
    await asyncio.sleep(1.0)
    idle_rss = worker.memory_info().rss
    enqueued = 0
    progress_at, last_done = time.monotonic(), -1
    started = time.monotonic()
    next_sample = started
    async with taskq.Queue.connect(url) as queue:
        while True:
            pending = await _pending(queue)
            done = enqueued - pending
            now = time.monotonic()
            if now >= next_sample:
                samples.append((now - started, done, worker.memory_info().rss))
                next_sample = now + SAMPLE_S
                progress.show(f"rss · {done:,}/{total:,} tasks · {samples[-1][2] / MIB:.1f} MiB")
            if done >= total:
                break
            if done != last_done:
                progress_at, last_done = now, done
            elif now - progress_at > STALL_S:
                raise RuntimeError(f"taskq worker made no progress for {STALL_S:.0f} s at {done}")
            if worker.status() == psutil.STATUS_ZOMBIE or not worker.is_running():
                raise RuntimeError("taskq worker exited during the RSS run")
            if enqueued < total and pending < BACKLOG:
                while enqueued < total and pending < BACKLOG:
                    n = min(BULK_BATCH, total - enqueued)
                    await queue.enqueue_many(
                        [
                            taskq.NewTask(action="uppercase", data=payload("rss", enqueued + i))
                            for i in range(n)
                        ]
                    )
                    enqueued += n
                    pending += n
            else:
                await asyncio.sleep(0.1)
        counts = await queue.counts()
    samples.append((time.monotonic() - started, total, worker.memory_info().rss))
    return {
        "idle_rss": idle_rss,
        "samples": samples,
        "seconds": time.monotonic() - started,
        "counts": {str(k): v for k, v in counts.items()},
    }


def summarize_rss(
    total: int, idle_rss: int, samples: list[tuple[float, int, int]]
) -> dict[str, Any]:
    rss = [s[2] for s in samples]
    warm = next((s[2] for s in samples if s[1] >= total * 0.05), rss[0])
    end = rss[-1]
    tolerance = max(0.10 * warm, 10 * MIB)
    second_half = [s[2] for s in samples if s[1] >= total / 2] or [end]
    return {
        "start_mib": idle_rss / MIB,
        "warm_mib": warm / MIB,
        "peak_mib": max(rss) / MIB,
        "end_mib": end / MIB,
        "flat": end - warm <= tolerance,
        "flat_rule": "end - RSS at 5% of tasks <= max(10%, 10 MiB)",
        "second_half_growth_mib": (end - second_half[0]) / MIB,
    }


def run(sizes: Sizes, progress: Progress, store: Store = "sqlite") -> dict[str, Any]:
    total = sizes.rss_tasks
    argv: list[str] = []
    try:
        from benchmarks.systems.taskq_ import fresh_database, fresh_pg_database, worker_argv

        url = fresh_database(DB) if store == "sqlite" else fresh_pg_database()
        argv = worker_argv(url, actions=None)
        with procs.running([(argv, {})], f"taskq-rss-{store}") as running:
            fed = asyncio.run(_feed(url, total, progress, running[0].pid))
    except Exception as exc:
        progress.note(f"  rss ({store}): FAILED: {exc}")
        progress.advance()
        return {"status": "failed", "error": str(exc)}
    progress.advance()
    result: dict[str, Any] = {
        "status": "ok",
        "store": store,
        "tasks": total,
        "worker": " ".join(argv[1:]),
        "backlog_cap": BACKLOG,
        "tasks_per_s": total / fed["seconds"],
        "counts": fed["counts"],
        **summarize_rss(total, fed["idle_rss"], fed["samples"]),
        "samples": [
            {"t": round(t, 2), "done": d, "rss_mib": round(r / MIB, 2)}
            for t, d, r in fed["samples"]
        ],
    }
    return result
