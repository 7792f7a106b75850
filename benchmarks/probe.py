"""Worker-side instrumentation shared by every system's task handler.

The handler calls `started(text)` first thing and `finished()` last. Timestamps are wall-clock
`time.time()` so they compare across processes. Per-process counters are pushed to Redis by a
background thread every FLUSH_INTERVAL seconds (so the hot path does no I/O), or synchronously
after every task when BENCH_PROBE_SYNC=1 (RQ's default worker forks a short-lived child per job,
whose memory is lost when it exits).

BENCH_PROBE_MODE=latency additionally records (text, start time) for every task.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import redis

from benchmarks.config import REDIS_URL

STATS_KEY = "bench:stats"
LATENCY_KEY = "bench:lat"
FLUSH_INTERVAL = 0.02


class _ProcessState:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.field = f"{self.pid}-{uuid.uuid4().hex[:8]}"
        self.lock = threading.Lock()
        self.count = 0
        self.first = float("inf")
        self.last = 0.0
        self.starts: list[str] = []
        self.dirty = False
        self.latency = os.environ.get("BENCH_PROBE_MODE") == "latency"
        self.sync = os.environ.get("BENCH_PROBE_SYNC") == "1"
        self.client = redis.Redis.from_url(REDIS_URL)
        if not self.sync:
            threading.Thread(target=self._flush_forever, name="bench-probe", daemon=True).start()

    def flush(self) -> None:
        with self.lock:
            if not self.dirty:
                return
            stats = f"{self.count} {self.first!r} {self.last!r}"
            starts, self.starts = self.starts, []
            self.dirty = False
        pipe = self.client.pipeline(transaction=False)
        if starts:
            pipe.rpush(LATENCY_KEY, *starts)
        pipe.hset(STATS_KEY, self.field, stats)
        pipe.execute()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            try:
                self.flush()
            except redis.RedisError:
                time.sleep(0.5)


_states: dict[int, _ProcessState] = {}  # pid -> state; a forked child gets its own
_state_lock = threading.Lock()


def _get() -> _ProcessState:
    pid = os.getpid()
    state = _states.get(pid)
    if state is None:
        with _state_lock:
            state = _states.get(pid)
            if state is None:
                state = _states[pid] = _ProcessState()
    return state


def started(text: str) -> None:
    now = time.time()
    state = _get()
    with state.lock:
        state.first = min(state.first, now)
        if state.latency:
            state.starts.append(f"{text}|{now!r}")


def finished() -> None:
    now = time.time()
    state = _get()
    with state.lock:
        state.count += 1
        state.last = max(state.last, now)
        state.dirty = True
    if state.sync:
        state.flush()


def uppercase(data: dict[str, str]) -> dict[str, str]:
    """The seed's `uppercase` action, instrumented. Every system's task calls this."""
    started(data["text"])
    result = {"output": data["text"].upper()}
    finished()
    return result
