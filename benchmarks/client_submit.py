"""Submitting from Python over HTTP: ``Client.submit`` one at a time and
``Client.submit_many`` (``POST /tasks/batch``), each beside its ceiling in the same run.

    .venv/bin/python -m benchmarks.client_submit [--n 2000] [--batch-n 20000] [--reps 3]

Each run against a ``taskq api`` of its own on a fresh SQLite file (FULL sync: each answer
means fsynced), no worker: a store's insert slows as its table and indexes grow (measured:
50k tasks/s into an empty table, 20k into one of 40,000 tasks), so every row, ceilings
included, starts from the same empty store. The rows:

- ``Client.submit``, one at a time: what a program that submits in a loop gets;
- a bare ``httpx`` POST, one at a time, on one connection: the ceiling of that loop (the
  client adds its idempotency key, retries and typed answers on top);
- ``Client.submit_many``, 1,000 per request (each item with the idempotency key the client
  gives it), and the same batches bare, without keys;
- ``Queue.enqueue_many`` in-process, 1,000 per call, on its own SQLite file: the bulk path
  the batch endpoint reaches through HTTP (its ceiling); and the same with an idempotency
  key per task, as ``Client.submit_many`` gives them (the ceiling of a keyed batch).

Medians over ``--reps``; tasks per second, and the CPU time per task of the client and of
the API process (read from /proc, so Linux only), which noise moves less than wall-clock
rates on a shared machine.
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
from taskq.client.calls import batch_keys
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


Row = tuple[float, float, float | None]  # tasks/s, client and API CPU µs per task


def cpu_s(pid: int) -> float | None:
    """The CPU seconds (user and system) process ``pid`` used so far; None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(run: Callable[[], int], server: int | None = None) -> Row:
    """Tasks per second, and client and ``server`` (a pid) CPU microseconds per task."""
    server0 = None if server is None else cpu_s(server)
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    server1 = None if server is None else cpu_s(server)
    api = None if server0 is None or server1 is None else (server1 - server0) / n * 1e6
    return n / wall, cpu / n * 1e6, api


def against_fresh_api(send: Callable[[str], int]) -> Row:
    """``send``'s run against a ``taskq api`` of its own on an empty store."""
    with tempfile.TemporaryDirectory() as directory:
        service, url = serve(directory)
        try:
            return timed(lambda: send(url), service.pid)
        finally:
            service.terminate()
            service.wait(30)


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


def in_process_batches(n: int, *, keys: bool = False) -> int:
    """``Queue.enqueue_many``, 1,000 a call, on an empty store; with ``keys``, each task
    under a key as ``Client.submit_many`` makes them."""
    given = batch_keys(n) if keys else [None] * n

    async def run() -> None:
        with tempfile.TemporaryDirectory() as directory:
            database = str(Path(directory) / "tasks.db")
            taskq.migrate(database)
            async with taskq.Queue.connect(database) as queue:
                for start in range(0, n, 1000):
                    await queue.enqueue_many(
                        [
                            NewTask(
                                action="uppercase", data={"text": f"t{i}"}, idempotency_key=given[i]
                            )
                            for i in range(start, min(n, start + 1000))
                        ]
                    )

    asyncio.run(run())
    return n


KEYED_CEILING = "Queue.enqueue_many in-process, with keys"
CEILINGS = {
    "Client.submit, one at a time": ["bare httpx POST, one at a time"],
    "Client.submit_many (POST /tasks/batch)": ["Queue.enqueue_many in-process", KEYED_CEILING],
    "bare httpx POST /tasks/batch, no keys": ["Queue.enqueue_many in-process"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="tasks submitted one at a time")
    parser.add_argument("--batch-n", type=int, default=20_000, help="tasks submitted in batches")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[Row]] = {}
    n, batch_n = args.n, args.batch_n
    for _ in range(args.reps):  # interleaved: the machine's noise hits every row alike
        for name, run in (
            (
                "Client.submit, one at a time",
                lambda: against_fresh_api(lambda url: client_one_by_one(url, n)),
            ),
            (
                "bare httpx POST, one at a time",
                lambda: against_fresh_api(lambda url: bare_one_by_one(url, n)),
            ),
            (
                "Client.submit_many (POST /tasks/batch)",
                lambda: against_fresh_api(lambda url: client_batches(url, batch_n)),
            ),
            (
                "bare httpx POST /tasks/batch, no keys",
                lambda: against_fresh_api(lambda url: bare_batches(url, batch_n)),
            ),
            ("Queue.enqueue_many in-process", lambda: timed(lambda: in_process_batches(batch_n))),
            (KEYED_CEILING, lambda: timed(lambda: in_process_batches(batch_n, keys=True))),
        ):
            rows.setdefault(name, []).append(run())
    print(f"\nmedian of {args.reps}; SQLite FULL sync, an empty store per run; one client process")
    print("| submitting | tasks/s | client CPU µs/task | API CPU µs/task | ratio |")
    print("|---|---|---|---|---|")
    medians = {name: _medians(found) for name, found in rows.items()}
    for name, (rate, cpu, api) in medians.items():
        ratios = ", ".join(
            f"{rate / medians[ceiling][0]:.2f}x of {ceiling}" for ceiling in CEILINGS.get(name, [])
        )
        api_text = "" if api is None else f"{api:.0f}"
        print(f"| {name} | {rate:,.0f} | {cpu:.0f} | {api_text} | {ratios} |")


def _medians(found: list[Row]) -> Row:
    apis = [api for _, _, api in found if api is not None]
    return (
        statistics.median(rate for rate, _, _ in found),
        statistics.median(cpu for _, cpu, _ in found),
        statistics.median(apis) if apis else None,
    )


if __name__ == "__main__":
    main()
