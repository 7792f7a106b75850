"""Workloads 5 and 6: HTTP enqueue paths under wrk, with their ceilings.

Every target gets the same load: `wrk -t1 -c64 -d<D>s --latency -s wrk/post_task.lua`, the same
JSON body, one uvicorn process with uvloop + httptools and no access log (taskq's own settings).
The server process is pinned to the first core and wrk to the last, so the server's CPU time
per answered request (user + system, from /proc, over wrk's run) is its own; other processes
(taskq's and Celery's workers) are not pinned.

  taskq-api-alone  `taskq api` alone on a SQLite file: what accepting costs, nothing beside it
  taskq-api      `taskq api` + 2 `taskq worker` processes on one SQLite file
  taskq-run      `taskq run`: API and worker in one process
  starlette-noop ceiling: Starlette endpoint that reads the body and answers 202
  fastapi-noop   ceiling: FastAPI endpoint that validates the body with pydantic and answers 202
  stack          FastAPI POST /tasks -> Celery .delay (Redis) -> task writes a row in SQLite

For systems that queue work, "accepted" is what got stored (taskq: rows in its DB; stack: 2xx
responses), and the clock runs on until every accepted task is completed.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import collect, procs
from benchmarks.config import BENCH_DIR, WORK_DIR, WORKER_PROCS, Sizes
from benchmarks.progress import Progress
from benchmarks.stats import summarize
from benchmarks.systems import venv_bin
from benchmarks.systems.taskq_ import CONCURRENCY as TASKQ_CONCURRENCY
from benchmarks.systems.taskq_ import PREFETCH as TASKQ_PREFETCH

LUA = BENCH_DIR / "wrk" / "post_task.lua"
CONNECTIONS = 64
WRK_THREADS = 1
SERVER_CORE = "0"
LOAD_CORE = str((os.cpu_count() or 1) - 1)
UVICORN = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
DRAIN_TIMEOUT = 600.0
Spec = tuple[list[str], dict[str, str]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(argv: list[str], core: str) -> list[str]:
    return ["taskset", "-c", core, *argv]


def run_wrk(port: int, seconds: int) -> dict[str, Any]:
    argv = [
        "taskset",
        "-c",
        LOAD_CORE,
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}/tasks",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            raw = json.loads(line.removeprefix("WRKJSON "))
            duration = raw["duration_us"] / 1e6
            return {
                **raw,
                "req_per_s": raw["requests"] / duration,
                "p50_ms": raw["p50_us"] / 1000,
                "p99_ms": raw["p99_us"] / 1000,
                "ok_requests": raw["requests"] - raw["status_errors"],
            }
    raise RuntimeError(f"wrk printed no summary: {done.stderr.strip() or done.stdout[-500:]}")


def loaded(server: subprocess.Popen[bytes], port: int, seconds: int) -> dict[str, Any]:
    """wrk's figures, and the CPU time ``server`` used per answered request meanwhile."""
    before = procs.cpu_seconds(server.pid)
    wrk = run_wrk(port, seconds)
    used = procs.cpu_seconds(server.pid) - before
    return {**wrk, "server_cpu_us": used / max(wrk["ok_requests"], 1) * 1e6}


def uvicorn_spec(app: str, port: int) -> Spec:
    argv = [venv_bin("uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), *UVICORN]
    return (pinned(argv, SERVER_CORE), {})


def _wait_until(count: Callable[[], tuple[int, int]], timeout: float) -> float:
    """Poll (done, total) until done == total and nothing new arrives for 0.3 s."""
    deadline = time.monotonic() + timeout
    done_at = 0.0
    last = (-1, -1)
    while time.monotonic() < deadline:
        now = count()
        if now != last:
            last, done_at = now, time.time()
        elif now[0] >= now[1] and time.time() - done_at > 0.3:
            return done_at
        time.sleep(0.05)
    raise TimeoutError(f"{last[0]}/{last[1]} tasks completed after {timeout:.0f}s")


def _sqlite_counter(path: Path, sql: str) -> Callable[[], tuple[int, int]]:
    def count() -> tuple[int, int]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
        try:
            row = conn.execute(sql).fetchone()
        finally:
            conn.close()
        return int(row[0] or 0), int(row[1] or 0)

    return count


TASKQ_COUNT = "SELECT sum(status IN ('completed', 'failed')), count(*) FROM tasks"


def _taskq_rep(variant: str, sizes: Sizes) -> dict[str, Any]:
    from benchmarks.systems.taskq_ import fresh_database, worker_argv

    db = WORK_DIR / "taskq-http" / "tasks.db"
    url = fresh_database(db)
    port = free_port()
    common = ["--database", url, "--port", str(port), "--log-level", "warning"]
    if variant == "taskq-run":
        worker = [
            "--concurrency",
            str(TASKQ_CONCURRENCY),
            "--prefetch",
            str(TASKQ_PREFETCH),
            "--demo-delay-ms",
            "0",
        ]
        specs: list[Spec] = [
            (pinned([venv_bin("taskq"), "run", *common, *worker], SERVER_CORE), {})
        ]
    else:
        specs = [(pinned([venv_bin("taskq"), "api", *common], SERVER_CORE), {})]
    if variant == "taskq-api":
        specs += [(worker_argv(url, actions=None), {}) for _ in range(WORKER_PROCS)]
    counter = _sqlite_counter(db, TASKQ_COUNT)
    with procs.running(specs, variant) as running:
        procs.wait_port(port, proc=running[0])
        workers = running[1:]
        workers_before = sum(procs.cpu_seconds(w.pid) for w in workers)
        started = time.time()
        wrk = loaded(running[0], port, sizes.wrk_seconds)
        wrk_end = time.time()
        if variant == "taskq-api-alone":
            return {**wrk, "accepted": counter()[1]}
        all_done = _wait_until(counter, DRAIN_TIMEOUT)
        completed, accepted = counter()
        workers_used = sum(procs.cpu_seconds(w.pid) for w in workers) - workers_before
    return {
        **wrk,
        "accepted": accepted,
        "completed": completed,
        "drain_after_load_s": max(all_done - wrk_end, 0.0),
        "completed_per_s": completed / (all_done - started),
        **({"worker_cpu_us": workers_used / max(completed, 1) * 1e6} if workers else {}),
    }


def _noop_rep(app: str, sizes: Sizes) -> dict[str, Any]:
    port = free_port()
    with procs.running([uvicorn_spec(app, port)], app.split(":", maxsplit=1)[0]) as running:
        procs.wait_port(port, proc=running[0])
        return loaded(running[0], port, sizes.wrk_seconds)


def _stack_rep(sizes: Sizes) -> dict[str, Any]:
    from benchmarks.apps import stack_tasks

    collect.flush_db()
    db = stack_tasks.DB_PATH
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with stack_tasks.connect() as conn:
        conn.execute(stack_tasks.SCHEMA)
    port = free_port()
    celery = [
        venv_bin("celery"),
        "-A",
        "benchmarks.apps.stack_tasks",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(WORKER_PROCS),
        "--loglevel",
        "WARNING",
    ]
    specs = [uvicorn_spec("benchmarks.apps.stack_api:app", port), (celery, {})]
    with procs.running(specs, "stack") as running:
        procs.wait_port(port, proc=running[0])
        started = time.time()
        wrk = loaded(running[0], port, sizes.wrk_seconds)
        wrk_end = time.time()
        accepted = wrk["ok_requests"]
        rows = _sqlite_counter(db, "SELECT count(*), 0 FROM results")

        def count() -> tuple[int, int]:
            return rows()[0], accepted

        all_done = _wait_until(count, DRAIN_TIMEOUT)
        completed = rows()[0]
    return {
        **wrk,
        "accepted": max(accepted, completed),  # wrk does not count requests still in flight
        "completed": completed,
        "drain_after_load_s": max(all_done - wrk_end, 0.0),
        "completed_per_s": completed / (all_done - started),
    }


SETTINGS = {
    "wrk": f"wrk -t{WRK_THREADS} -c{CONNECTIONS} -d<D>s --timeout 10s --latency "
    "-s benchmarks/wrk/post_task.lua",
    "uvicorn": "1 process, " + " ".join(UVICORN) + " (taskq's own: uvloop, httptools, no access "
    "log)",
    "cores": f"server process pinned to core {SERVER_CORE}, wrk to core {LOAD_CORE}; workers not "
    "pinned; server CPU per request is its user + system time over wrk's run / 2xx answers",
    "taskq-api-alone": "taskq api, no worker, SQLite synchronous=FULL",
    "taskq-api": f"taskq api + {WORKER_PROCS} x taskq worker --concurrency {TASKQ_CONCURRENCY} "
    f"--prefetch {TASKQ_PREFETCH} --demo-delay-ms 0 (built-in uppercase), SQLite "
    "synchronous=FULL",
    "taskq-run": f"taskq run --concurrency {TASKQ_CONCURRENCY} --prefetch {TASKQ_PREFETCH} "
    "--demo-delay-ms 0 (API + worker, 1 process), SQLite synchronous=FULL",
    "starlette-noop": "Starlette route: await request.body(); JSONResponse(202)",
    "fastapi-noop": "FastAPI async route with pydantic body model; returns 202",
    "stack": f"FastAPI sync route -> Celery .delay (Redis broker, acks_late, no result backend); "
    f"celery worker --pool prefork --concurrency {WORKER_PROCS}; task INSERTs one row into "
    "SQLite (WAL, synchronous=FULL, autocommit)",
}
TARGET_KEYS = ("req_per_s", "p50_ms", "p99_ms", "server_cpu_us")
QUEUE_KEYS = (*TARGET_KEYS, "completed_per_s", "drain_after_load_s")


def run(sizes: Sizes, progress: Progress, *, taskq: bool, stack: bool) -> dict[str, Any]:
    targets: list[tuple[str, Callable[[], dict[str, Any]], tuple[str, ...]]] = []
    if taskq:
        targets += [
            ("taskq-api-alone", lambda: _taskq_rep("taskq-api-alone", sizes), TARGET_KEYS),
            ("taskq-api", lambda: _taskq_rep("taskq-api", sizes), (*QUEUE_KEYS, "worker_cpu_us")),
            ("taskq-run", lambda: _taskq_rep("taskq-run", sizes), QUEUE_KEYS),
        ]
    targets += [
        (
            "starlette-noop",
            lambda: _noop_rep("benchmarks.apps.noop_starlette:app", sizes),
            TARGET_KEYS,
        ),
        ("fastapi-noop", lambda: _noop_rep("benchmarks.apps.noop_fastapi:app", sizes), TARGET_KEYS),
    ]
    if stack:
        targets.append(("stack", lambda: _stack_rep(sizes), QUEUE_KEYS))
    out: dict[str, Any] = {"settings": SETTINGS, "targets": {}}
    for name, rep_fn, keys in targets:
        runs: list[dict[str, Any]] = []
        try:
            for rep in range(sizes.reps):
                progress.show(f"http · {name} · rep {rep + 1}/{sizes.reps}")
                runs.append(rep_fn())
                progress.advance()
        except Exception as exc:
            progress.note(f"  http {name}: FAILED: {exc}")
            progress.done += sizes.reps - len(runs)
            out["targets"][name] = {"status": "failed", "error": str(exc), "runs": runs}
            continue
        summary: dict[str, Any] = {"status": "ok", "runs": runs}
        for key in keys:
            summary[key] = summarize([r[key] for r in runs])
        out["targets"][name] = summary
    return out
