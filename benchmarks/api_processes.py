"""`POST /tasks` through `taskq api --processes N`: how requests/s grows from 1 to N server
processes on one port, with every 202 still one stored task.

    .venv/bin/python -m benchmarks.api_processes [--processes 1 2] [--seconds 10] [--reps 3]
        [--postgres URL]

Each run starts `taskq api --processes N` on a fresh store (SQLite with FULL sync: each 202
is fsynced; or PostgreSQL), no worker, then drives it for ``--seconds`` with `wrk -t1 -c64`
and the harness's body (``wrk/post_task.lua``). It reports requests/s, p99 latency, the CPU
time the server processes used per accepted task (from /proc, every child's user + system
time, read just before the parent is stopped) and checks that the store holds a task per
202 (and no more than the requests wrk left in flight). The values of N alternate run by
run, so the machine's drift hits each alike.

On a 2-core machine wrk shares the cores with the servers (it is pinned to the last core,
the servers are not pinned): a second process can only use what wrk and the first leave,
which the CPU per task column shows apart from the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.claim_flow import fresh_postgres
from benchmarks.procs import cpu_seconds

LUA = Path(__file__).parent / "wrk" / "post_task.lua"
TASKQ = str(Path(sys.executable).with_name("taskq"))
STARTED = re.compile(r"Started server process \[(\d+)\]")
API = [TASKQ, "api", "--log-level", "info"]
CONNECTIONS = 64
WRK = ["wrk", "-t1", f"-c{CONNECTIONS}", "--latency", "-s", str(LUA)]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stored(database: str) -> int:
    if database.startswith("postgresql"):
        import psycopg

        with psycopg.connect(database) as conn:
            row = conn.execute("SELECT count(*) FROM taskq_tasks").fetchone()
            return int(row[0]) if row else 0
    with sqlite3.connect(database) as conn:
        return int(conn.execute("SELECT count(*) FROM tasks").fetchone()[0])


def one_run(database: str, processes: int, seconds: int, workdir: Path) -> dict[str, float]:
    subprocess.run([TASKQ, "migrate", "--database", database], check=True, capture_output=True)
    port = free_port()
    log_path = workdir / f"api-{processes}-{port}.log"
    with log_path.open("wb") as log:
        api = subprocess.Popen(
            [*API, "--database", database, "--port", str(port), "--processes", str(processes)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            pids = [int(p) for p in STARTED.findall(log_path.read_text())]
            try:
                if len(pids) == processes and httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        before = sum(cpu_seconds(pid) for pid in pids)
        last_core = str((os.cpu_count() or 1) - 1)
        wrk = subprocess.run(
            ["taskset", "-c", last_core, *WRK, f"-d{seconds}s", f"{url}/tasks"],
            capture_output=True,
            text=True,
            check=True,
        )
        used = sum(cpu_seconds(pid) for pid in pids) - before
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=60)
    summary = json.loads(wrk.stdout.split("WRKJSON ", 1)[1].splitlines()[0])
    accepted = summary["requests"] - summary["status_errors"]
    # wrk stops counting with up to one request in flight per connection, which the
    # service may still store: every 202 is stored, and nothing beyond those in flight
    count = stored(database)
    if not accepted <= count <= accepted + CONNECTIONS:
        raise RuntimeError(f"{accepted} answered 202, but the store holds {count} tasks")
    return {
        "per_s": accepted / (summary["duration_us"] / 1e6),
        "p99_ms": summary["p99_us"] / 1000,
        "cpu_us": used / max(accepted, 1) * 1e6,
        "errors": summary["status_errors"] + summary["timeouts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="also on PostgreSQL (an admin URL)")
    args = parser.parse_args()
    stores = ["sqlite"] + (["postgres"] if args.postgres else [])
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for rep in range(args.reps):
            for n in args.processes:
                for store in stores:
                    if store == "sqlite":
                        database = str(workdir / f"r{rep}-p{n}.db")
                    else:
                        database = fresh_postgres(args.postgres, f"api_processes_{rep}_{n}")
                    found = one_run(database, n, args.seconds, workdir)
                    results.setdefault((store, n), []).append(found)
                    print(
                        f"rep {rep} {store:8} processes={n}  {found['per_s']:8.0f} req/s"
                        f"  p99 {found['p99_ms']:6.1f} ms  {found['cpu_us']:6.0f} CPU µs/task",
                        flush=True,
                    )
    print(f"\nmedians over {args.reps} runs (every 202 was one stored task):")
    for store in stores:
        base = statistics.median(r["per_s"] for r in results[(store, args.processes[0])])
        for n in args.processes:
            runs = results[(store, n)]
            per_s = statistics.median(r["per_s"] for r in runs)
            print(
                f"  {store:8} processes={n}  {per_s:8.0f} req/s ({per_s / base:.2f}x)"
                f"  p99 {statistics.median(r['p99_ms'] for r in runs):6.1f} ms"
                f"  {statistics.median(r['cpu_us'] for r in runs):6.0f} CPU µs/task"
            )


if __name__ == "__main__":
    main()
