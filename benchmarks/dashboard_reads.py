"""What the dashboard's pages cost on a large table: every request each page makes, timed
against a real ``taskq api`` over HTTP on N tasks (the table of ``store_stats.py``: 20
queues, 90% completed, 5% failed, 5% queued over 24 hours), on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.dashboard_reads [--rows 1000000] [--postgres URL]

Each request is made 5 times; the median is shown (the /stats and /queues answers are
cached for a second per process: each is timed after the cache lapsed).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.store_stats import fill_postgres, fill_sqlite

# (page, request): what each page asks for when it opens (see dashboard/static/js)
REQUESTS = [
    ("overview", "/stats"),
    ("overview", "/queues"),
    ("overview", "/tasks?status=failed&limit=6"),
    ("tasks", "/tasks?limit=50"),
    ("tasks: a status tab", "/tasks?status=failed&limit=50"),
    ("tasks: a busy queue", "/tasks?queue=q7&limit=50"),
    ("tasks: a queue and a status", "/tasks?queue=q7&status=failed&limit=50"),
    ("tasks: two statuses", "/tasks?status=failed&status=queued&limit=50"),
    ("tasks: an error search", "/tasks?q=timeout&limit=50"),
    ("tasks: a page deep", "/tasks?limit=50&cursor={middle}"),
    ("task", "/tasks/{some_id}"),
    ("workers", "/workers"),
    ("schedules", "/schedules"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def measure(database: str) -> list[tuple[str, str, float]]:
    port = free_port()
    taskq = str(Path(sys.executable).with_name("taskq"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    service = subprocess.Popen(
        [taskq, "api", "--database", database, "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            for _ in range(100):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            first = client.get("/tasks?limit=1").json()["tasks"][0]
            values = {"some_id": first["id"], "middle": "500000"}
            found = []
            for page, path in REQUESTS:
                url = path.format(**values)
                times = []
                for _ in range(5):
                    time.sleep(1.05)  # past the 1 s cache of /stats and /queues
                    t0 = time.perf_counter()
                    answer = client.get(url)
                    times.append(time.perf_counter() - t0)
                    assert answer.status_code == 200, (url, answer.text)
                found.append((page, url, statistics.median(times) * 1000))
            return found
    finally:
        service.terminate()
        service.wait(30)


def create_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/taskq_dashboard_bench",
        help="a database of its own: it is emptied (created if missing)",
    )
    args = parser.parse_args()
    results: dict[str, list[tuple[str, str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "big.db")
        fill_sqlite(path, args.rows)
        results["SQLite"] = measure(path)
    create_database(args.postgres)
    fill_postgres(args.postgres, args.rows)
    results["PostgreSQL"] = measure(args.postgres)
    print(f"\n{args.rows:,} tasks; median of 5, ms")
    print(f"| page | request | {' | '.join(results)} |")
    print(f"|---|---|{'---|' * len(results)}")
    for i, (page, url, _) in enumerate(results["SQLite"]):
        cells = " | ".join(f"{found[i][2]:.0f}" for found in results.values())
        print(f"| {page} | `{url}` | {cells} |")


if __name__ == "__main__":
    main()
