"""Entry point: `python -m benchmarks.main [--quick] [--only NAMES] [--skip NAMES]`.

NAMES are comma-separated system names (taskq, taskq-inproc, huey, dramatiq, celery, rq, arq,
taskiq, saq, procrastinate, stack, taskq-pg) and/or workload names
(enqueue, bulk, drain, latency, http, sqlite, rss). --only keeps the named systems (if any are
named) and the named workloads (if any are named); --skip removes names.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks import collect, environment, procs, report, runner
from benchmarks.config import REDIS_URL, RESULTS_DIR, Sizes
from benchmarks.progress import Progress
from benchmarks.systems import OPT_IN, REGISTRY

SYSTEMS = [*REGISTRY, "stack"]
EXTRA_WORKLOADS = ("http", "sqlite", "rss")
WORKLOADS = [*runner.QUEUE_WORKLOADS, *EXTRA_WORKLOADS]


def _names(value: str | None) -> set[str]:
    names = {n.strip() for n in (value or "").split(",") if n.strip()}
    unknown = names - set(SYSTEMS) - set(WORKLOADS)
    if unknown:
        raise SystemExit(
            f"unknown name(s): {', '.join(sorted(unknown))}; "
            f"systems: {', '.join(SYSTEMS)}; workloads: {', '.join(WORKLOADS)}"
        )
    return names


def select(only: set[str], skip: set[str]) -> tuple[list[str], list[str]]:
    named = only & set(SYSTEMS)
    systems = [
        s for s in SYSTEMS if (s in named or (not named and s not in OPT_IN)) and s not in skip
    ]
    workloads = [
        w for w in WORKLOADS if (not (only & set(WORKLOADS)) or w in only) and w not in skip
    ]
    return systems, workloads


def _on_signal(signum: int, frame: FrameType | None) -> None:
    procs.stop_all()
    sys.exit(128 + signum)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--only", help="comma-separated systems and/or workloads to run")
    parser.add_argument("--skip", help="comma-separated systems and/or workloads to skip")
    parser.add_argument("--reps", type=int, help="override repetitions")
    parser.add_argument("--n", type=int, help="override N (enqueue/bulk/drain tasks)")
    parser.add_argument("--rss-tasks", type=int, help="override tasks for the RSS workload")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="results directory")
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="only re-render the table, latest.md and latest.png from <out>/latest.json",
    )
    return parser.parse_args(argv)


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.for_mode(args.quick)
    if args.reps:
        sizes = replace(sizes, reps=args.reps)
    if args.n:
        sizes = replace(sizes, n=args.n)
    if args.rss_tasks:
        sizes = replace(sizes, rss_tasks=args.rss_tasks)
    return sizes


@dataclass(frozen=True)
class Plan:
    systems: list[str]
    workloads: list[str]

    @property
    def queue_systems(self) -> list[str]:
        return [s for s in self.systems if s in REGISTRY]

    @property
    def queue_workloads(self) -> list[str]:
        return [w for w in self.workloads if w in runner.QUEUE_WORKLOADS]

    @property
    def taskq(self) -> bool:
        return "taskq" in self.systems

    @property
    def stack(self) -> bool:
        return "stack" in self.systems

    @property
    def http(self) -> bool:
        return "http" in self.workloads and (self.taskq or self.stack)

    @property
    def sqlite(self) -> bool:
        return "sqlite" in self.workloads

    @property
    def rss(self) -> bool:
        return "rss" in self.workloads and self.taskq

    @property
    def rss_pg(self) -> bool:
        return "rss" in self.workloads and "taskq-pg" in self.systems

    def steps(self, sizes: Sizes) -> int:
        total = len(self.queue_systems) * len(self.queue_workloads) * sizes.reps
        if self.http:
            total += (2 + 3 * self.taskq + self.stack) * sizes.reps
        return total + 4 * self.sqlite + self.rss + self.rss_pg


def execute(plan: Plan, sizes: Sizes, progress: Progress, results: dict[str, Any]) -> None:
    if plan.queue_workloads:
        for name in plan.queue_systems:
            results["systems"][name] = runner.run_system(
                name, plan.queue_workloads, sizes, progress
            )
    if plan.sqlite:
        from benchmarks import sqlite_ceiling

        results["sqlite"] = sqlite_ceiling.run(sizes, progress)
    if plan.http:
        from benchmarks import http_bench

        results["http"] = http_bench.run(sizes, progress, taskq=plan.taskq, stack=plan.stack)
    if plan.rss:
        from benchmarks import rss

        results["rss"] = rss.run(sizes, progress)
    if plan.rss_pg:
        from benchmarks import rss

        results["rss_pg"] = rss.run(sizes, progress, "postgres")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rerender:
        results = json.loads((Path(args.out) / "latest.json").read_text())
        print(report.render_terminal(results))
        report.write_all(results, args.out)
        return 0
    plan = Plan(*select(_names(args.only), _names(args.skip)))
    sizes = _sizes(args)
    try:
        collect.client().ping()
    except Exception as exc:
        raise SystemExit(
            f"Redis at {REDIS_URL} is required (the probe reports there): {exc}"
        ) from exc

    atexit.register(procs.stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    progress = Progress(plan.steps(sizes))
    progress.note(
        f"taskq benchmark ({'quick' if args.quick else 'full'}): N={sizes.n}, "
        f"reps={sizes.reps}; systems: {', '.join(plan.systems)}; "
        f"workloads: {', '.join(plan.workloads)}"
    )
    results: dict[str, Any] = {
        "meta": environment.describe(
            quick=args.quick, sizes=sizes, systems=plan.systems, workloads=plan.workloads
        ),
        "systems": {},
    }
    started = time.time()
    try:
        execute(plan, sizes, progress, results)
    finally:
        procs.stop_all()
        with contextlib.suppress(Exception):
            collect.flush_db()
    results["meta"]["wall_seconds"] = time.time() - started
    results["meta"]["loadavg_at_end"] = os.getloadavg()
    progress.finish()
    print(report.render_terminal(results))
    paths = report.write_all(results, args.out)
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
