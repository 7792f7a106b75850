"""Submitting from Python over HTTP: ``Client.submit`` one at a time and
``Client.submit_many`` (``POST /tasks/batch``), each beside its ceiling in the same run.

    .venv/bin/python -m benchmarks.client_submit [--n 2000] [--batch-n 20000] [--reps 3]

Against one ``taskq api`` on a fresh SQLite file (FULL sync: each answer means fsynced), no
worker. The rows:

- ``Client.submit``, one at a time: what a program that submits in a loop gets;
- a bare ``httpx`` POST, one at a time, on one connection: the ceiling of that loop (the
  client adds its idempotency key, retries and typed answers on top);
- ``Client.submit_many``, 1,000 per request (each item with the idempotency key the client
  gives it), and the same batches bare, without keys;
- ``Queue.enqueue_many`` in-process, 1,000 per call, on its own SQLite file: the bulk path
  the batch endpoint reaches through HTTP (its ceiling).

Medians over ``--reps``; tasks per second, and the client's CPU time per task, which noise
moves less than wall-clock rates on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

import taskq
from taskq.task import NewTask


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    taskq_bin = str(Path(sys.executable).with_name("taskq"))
    database = str(Path(directory) / "tasks.db")
    subprocess.run([taskq_bin, "migrate", "--database", database], check=True, capture_output=True)
    service = subprocess.Popen(
        [taskq_bin, "api", "--database", database, "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return service, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("taskq api did not start")


def timed(run: Callable[[], int]) -> tuple[float, float]:
    """Tasks per second, and client CPU microseconds per task."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return n / wall, cpu / n * 1e6


def client_one_by_one(url: str, n: int) -> int:
    with taskq.Client(url) as client:
        for i in range(n):
            client.submit("uppercase", {"text": f"t{i}"})
    return n


def bare_one_by_one(url: str, n: int) -> int:
    with httpx.Client(base_url=url) as client:
        for i in range(n):
            answer = client.post("/tasks", json={"action": "uppercase", "data": {"text": f"t{i}"}})
            assert answer.status_code == 202
    return n


def client_batches(url: str, n: int) -> int:
    items = [{"action": "uppercase", "data": {"text": f"t{i}"}} for i in range(n)]
    with taskq.Client(url) as client:
        client.submit_many(items)
    return n


def bare_batches(url: str, n: int) -> int:
    items = [{"action": "uppercase", "data": {"text": f"t{i}"}} for i in range(n)]
    with httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, n, 1000):
            answer = client.post("/tasks/batch", json={"tasks": items[start : start + 1000]})
            assert answer.status_code == 202, answer.text
    return n


def in_process_batches(directory: str, n: int) -> int:
    async def run() -> None:
        database = str(Path(directory) / f"inproc-{time.monotonic_ns()}.db")
        taskq.migrate(database)
        async with taskq.Queue.connect(database) as queue:
            for start in range(0, n, 1000):
                await queue.enqueue_many(
                    [
                        NewTask(action="uppercase", data={"text": f"t{i}"})
                        for i in range(start, min(n, start + 1000))
                    ]
                )

    asyncio.run(run())
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="tasks submitted one at a time")
    parser.add_argument("--batch-n", type=int, default=20_000, help="tasks submitted in batches")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        service, url = serve(directory)
        try:
            for _ in range(args.reps):  # interleaved: the machine's noise hits every row alike
                for name, run in (
                    ("Client.submit, one at a time", lambda: client_one_by_one(url, args.n)),
                    ("bare httpx POST, one at a time", lambda: bare_one_by_one(url, args.n)),
                    (
                        "Client.submit_many (POST /tasks/batch)",
                        lambda: client_batches(url, args.batch_n),
                    ),
                    (
                        "bare httpx POST /tasks/batch, no keys",
                        lambda: bare_batches(url, args.batch_n),
                    ),
                    (
                        "Queue.enqueue_many in-process",
                        lambda: in_process_batches(directory, args.batch_n),
                    ),
                ):
                    rows.setdefault(name, []).append(timed(run))
        finally:
            service.terminate()
            service.wait(30)
    print(f"\nmedian of {args.reps}; SQLite FULL sync; one client process")
    print("| submitting | tasks/s | client CPU µs/task | ratio |")
    print("|---|---|---|---|")
    medians = {
        name: (statistics.median(r for r, _ in found), statistics.median(c for _, c in found))
        for name, found in rows.items()
    }
    ceilings = {
        "Client.submit, one at a time": "bare httpx POST, one at a time",
        "Client.submit_many (POST /tasks/batch)": "Queue.enqueue_many in-process",
        "bare httpx POST /tasks/batch, no keys": "Queue.enqueue_many in-process",
    }
    for name, (rate, cpu) in medians.items():
        ceiling = ceilings.get(name)
        ratio = f"{rate / medians[ceiling][0]:.2f}x of {ceiling}" if ceiling else ""
        print(f"| {name} | {rate:,.0f} | {cpu:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
