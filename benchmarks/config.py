"""Shared constants: where the services are and how big each workload is."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
WORK_DIR = Path(os.environ.get("BENCH_WORK_DIR", "/tmp/taskq-bench"))

REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "15"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{REDIS_DB}")
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB_NAME = "bench_procrastinate"
PG_DSN = os.environ.get("BENCH_PG_DSN", f"postgresql://postgres@127.0.0.1:5432/{PG_DB_NAME}")

WORKER_PROCS = 2
BULK_BATCH = 1_000
LATENCY_RATE = 200.0  # tasks/s, open loop


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; `--quick` shrinks everything."""

    n: int  # tasks for enqueue / bulk / drain
    reps: int  # repetitions of workloads 1-4 and 5-6
    latency_tasks: int  # tasks per latency repetition (at LATENCY_RATE)
    wrk_seconds: int
    rss_tasks: int
    sqlite_seconds: float  # time cap per SQLite ceiling measurement

    @staticmethod
    def for_mode(quick: bool) -> Sizes:
        if quick:
            return Sizes(
                n=1_000,
                reps=2,
                latency_tasks=300,
                wrk_seconds=3,
                rss_tasks=50_000,
                sqlite_seconds=1.0,
            )
        return Sizes(
            n=10_000,
            reps=3,
            latency_tasks=1_000,
            wrk_seconds=6,
            rss_tasks=1_000_000,
            sqlite_seconds=5.0,
        )


def payload(prefix: str, i: int) -> dict[str, str]:
    """The one payload every system gets: the seed's `uppercase` input."""
    return {"text": f"{prefix}-{i:07d}"}
