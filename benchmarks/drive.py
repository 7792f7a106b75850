"""Driver subprocess: runs one producer-side operation of one system and prints a JSON result.

    python -m benchmarks.drive SYSTEM OP [--n N] [--batch B] [--count C] [--rate R] [--procs P]

Each call is a fresh process, so library globals never leak between systems or repetitions.
The last stdout line is `BENCHRESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import traceback
from dataclasses import asdict
from typing import Any

from benchmarks import collect
from benchmarks.config import BULK_BATCH, payload
from benchmarks.stats import percentile
from benchmarks.systems import load
from benchmarks.systems.base import System

WARMUP = 10
LATENCY_WARMUP = 20
STRAGGLER_WAIT_S = 120.0


async def _settings(system: System, args: argparse.Namespace) -> dict[str, Any]:
    bulk = system.bulk_api
    return {
        "settings": system.settings(args.procs),
        "workers": [asdict(spec) for spec in system.worker_specs(args.procs)],
        "workloads": sorted(system.workloads),
        "bulk_api": asdict(bulk) if bulk else None,
        "results": system.results,
    }


async def _enqueue_one(system: System, args: argparse.Namespace) -> dict[str, Any]:
    await system.reset()
    for i in range(WARMUP):
        await system.enqueue(payload("warm", i))
    start = time.perf_counter()
    for i in range(args.n):
        await system.enqueue(payload("task", i))
    return {"seconds": time.perf_counter() - start, "n": args.n}


async def _enqueue_bulk(system: System, args: argparse.Namespace) -> dict[str, Any]:
    await system.reset()
    await system.enqueue_many([payload("warm", i) for i in range(WARMUP)])
    batches = [
        [payload("task", i) for i in range(lo, min(lo + args.batch, args.n))]
        for lo in range(0, args.n, args.batch)
    ]
    start = time.perf_counter()
    for batch in batches:
        await system.enqueue_many(batch)
    return {"seconds": time.perf_counter() - start, "n": args.n}


async def _prequeue(system: System, args: argparse.Namespace) -> dict[str, Any]:
    await system.reset()
    start = time.perf_counter()
    if system.bulk_api is not None:
        for lo in range(0, args.n, BULK_BATCH):
            hi = min(lo + BULK_BATCH, args.n)
            await system.enqueue_many([payload("task", i) for i in range(lo, hi)])
    else:
        for i in range(args.n):
            await system.enqueue(payload("task", i))
    return {"seconds": time.perf_counter() - start, "n": args.n}


async def _verify(system: System, args: argparse.Namespace) -> dict[str, Any]:
    return {"results": await system.count_results()}


async def _reset(system: System, args: argparse.Namespace) -> dict[str, Any]:
    await system.reset()
    return {}


async def _latency(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """Open loop: task i is enqueued at t0 + i/rate.

    Latency = handler start - the moment just before the enqueue call (both wall clock).
    """
    r = collect.client()
    worker_cm = system.inprocess_worker() if args.inproc else None
    async with worker_cm if worker_cm is not None else contextlib.nullcontext():
        for i in range(LATENCY_WARMUP):
            await system.enqueue(payload("warm", i))
        await asyncio.to_thread(collect.wait_for_count, r, LATENCY_WARMUP, 60.0)
        collect.clear_probe(r)
        before: dict[str, float] = {}
        scheduled: dict[str, float] = {}
        t0 = time.time() + 0.05
        for i in range(args.count):
            data = payload(f"lat{args.tag}", i)
            due = t0 + i / args.rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled[data["text"]] = due
            before[data["text"]] = time.time()
            await system.enqueue(data)
        deadline = time.monotonic() + STRAGGLER_WAIT_S
        starts = collect.read_starts(r)
        while len(starts) < args.count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            starts = collect.read_starts(r)
    missing = [k for k in before if k not in starts]
    if missing:
        raise RuntimeError(
            f"{len(missing)}/{args.count} latency tasks had not started "
            f"{STRAGGLER_WAIT_S:.0f} s after the last enqueue"
        )
    lat_ms = [(starts[k] - before[k]) * 1000 for k in before]
    sched_ms = [(starts[k] - scheduled[k]) * 1000 for k in before]
    lag_ms = [(before[k] - scheduled[k]) * 1000 for k in before]
    return {
        "n": args.count,
        "rate": args.rate,
        "p50_ms": percentile(lat_ms, 50),
        "p99_ms": percentile(lat_ms, 99),
        "max_ms": max(lat_ms),
        "p99_from_schedule_ms": percentile(sched_ms, 99),
        "max_producer_lag_ms": max(lag_ms),
    }


OPS = {
    "settings": _settings,
    "reset": _reset,
    "enqueue_one": _enqueue_one,
    "enqueue_bulk": _enqueue_bulk,
    "prequeue": _prequeue,
    "verify": _verify,
    "latency": _latency,
}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    system = load(args.system)
    await system.open()
    try:
        return await OPS[args.op](system, args)
    finally:
        await system.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drive")
    parser.add_argument("system")
    parser.add_argument("op", choices=sorted(OPS))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=BULK_BATCH)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--tag", default="0")
    parser.add_argument("--inproc", action="store_true")
    args = parser.parse_args()
    try:
        result = asyncio.run(_main(args))
    except Exception as exc:
        traceback.print_exc()
        print("BENCHRESULT " + json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        sys.exit(1)
    print("BENCHRESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
