"""Workloads 1-4, applied identically to every selected queue system.

1 enqueue   N tasks, one library call each, producer alone (no workers).
2 bulk      N tasks in calls of BULK_BATCH with the library's bulk API (n/a if none).
3 drain     N pre-queued tasks, then WORKER_PROCS worker processes start; drain time is
            first handler start -> last handler end (wall clock, all processes).
4 latency   open-loop LATENCY_RATE tasks/s; handler start - just-before-enqueue, p50/p99.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks import collect, procs
from benchmarks.config import BULK_BATCH, LATENCY_RATE, WORKER_PROCS, Sizes
from benchmarks.progress import Progress
from benchmarks.stats import summarize

QUEUE_WORKLOADS = ("enqueue", "bulk", "drain", "latency")
Result = dict[str, Any]


def _worker_specs(info: Result, mode: str) -> list[tuple[list[str], dict[str, str]]]:
    return [(w["argv"], {**w["env"], "BENCH_PROBE_MODE": mode}) for w in info["workers"]]


def _enqueue(name: str, info: Result, sizes: Sizes, rep: int) -> Result:
    collect.flush_db()
    out = procs.run_driver(name, "enqueue_one", timeout=600, n=sizes.n)
    return {"tasks_per_s": sizes.n / out["seconds"], "seconds": out["seconds"]}


def _bulk(name: str, info: Result, sizes: Sizes, rep: int) -> Result:
    collect.flush_db()
    out = procs.run_driver(name, "enqueue_bulk", timeout=600, n=sizes.n, batch=BULK_BATCH)
    return {"tasks_per_s": sizes.n / out["seconds"], "seconds": out["seconds"]}


def _drain(name: str, info: Result, sizes: Sizes, rep: int) -> Result:
    collect.flush_db()
    procs.run_driver(name, "prequeue", timeout=600, n=sizes.n)
    r = collect.client()
    collect.clear_probe(r)
    timeout = max(180.0, sizes.n / 20)
    spawned = time.time()
    with procs.running(_worker_specs(info, "drain"), f"{name}-worker") as workers:
        deadline = time.monotonic() + timeout
        while (stats := collect.read_stats(r)).count < sizes.n:
            procs.check_alive(workers, f"{name}-worker")
            if time.monotonic() > deadline:
                raise TimeoutError(f"drained {stats.count}/{sizes.n} in {timeout:.0f}s")
            time.sleep(0.02)
    seconds = stats.last_end - stats.first_start
    verified = procs.run_driver(name, "verify", timeout=120)["results"]
    return {
        "tasks_per_s": sizes.n / seconds,
        "seconds": seconds,
        "spawn_to_last_s": stats.last_end - spawned,
        "handler_runs": stats.count,
        "results_stored": verified,
    }


def _latency(name: str, info: Result, sizes: Sizes, rep: int) -> Result:
    collect.flush_db()
    procs.run_driver(name, "reset", timeout=120)
    inproc = not info["workers"]
    env = {"BENCH_PROBE_MODE": "latency"}
    timeout = sizes.latency_tasks / LATENCY_RATE + 300
    with procs.running(_worker_specs(info, "latency"), f"{name}-worker"):
        return procs.run_driver(
            name,
            "latency",
            timeout=timeout,
            env=env,
            count=sizes.latency_tasks,
            rate=LATENCY_RATE,
            tag=rep,
            inproc=inproc,
        )


RUNS: dict[str, Callable[[str, Result, Sizes, int], Result]] = {
    "enqueue": _enqueue,
    "bulk": _bulk,
    "drain": _drain,
    "latency": _latency,
}
SUMMARY_KEYS = {
    "enqueue": ("tasks_per_s",),
    "bulk": ("tasks_per_s",),
    "drain": ("tasks_per_s", "seconds", "spawn_to_last_s"),
    "latency": ("p50_ms", "p99_ms", "max_producer_lag_ms"),
}


def applicable(info: Result, workload: str) -> str | None:
    """None if the system runs this workload, else the reason it is n/a."""
    if workload not in info["workloads"]:
        return "not part of this variant"
    if workload == "bulk" and info["bulk_api"] is None:
        return "no bulk-enqueue API"
    return None


def run_system(name: str, workloads: list[str], sizes: Sizes, progress: Progress) -> Result:
    progress.show(f"{name} · loading")
    try:
        info = procs.run_driver(name, "settings", timeout=120, procs=WORKER_PROCS)
    except Exception as exc:
        progress.note(f"  {name}: FAILED to load: {exc}")
        progress.done += len(workloads) * sizes.reps
        return {"status": "failed", "error": str(exc), "workloads": {}}
    out: Result = {"status": "ok", **info, "workloads": {}}
    for workload in workloads:
        reason = applicable(info, workload)
        if reason is not None:
            out["workloads"][workload] = {"status": "n/a", "reason": reason}
            progress.done += sizes.reps
            continue
        runs: list[Result] = []
        try:
            for rep in range(sizes.reps):
                progress.show(f"{name} · {workload} · rep {rep + 1}/{sizes.reps}")
                runs.append(RUNS[workload](name, info, sizes, rep))
                progress.advance()
        except Exception as exc:
            progress.note(f"  {name} {workload}: FAILED: {exc}")
            progress.done += sizes.reps - len(runs)
            out["workloads"][workload] = {"status": "failed", "error": str(exc), "runs": runs}
            continue
        summary: Result = {"status": "ok", "runs": runs}
        for key in SUMMARY_KEYS[workload]:
            summary[key] = summarize([r[key] for r in runs])
        out["workloads"][workload] = summary
    return out
