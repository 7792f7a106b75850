"""Harness-side reading of what `benchmarks.probe` wrote to Redis."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from benchmarks.config import REDIS_URL
from benchmarks.probe import LATENCY_KEY, STATS_KEY


@dataclass(frozen=True)
class ProbeStats:
    count: int
    first_start: float
    last_end: float


def client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def flush_db() -> None:
    """FLUSHDB the benchmark's dedicated Redis DB (never any other)."""
    client().flushdb()


def clear_probe(r: redis.Redis) -> None:
    r.delete(STATS_KEY, LATENCY_KEY)


def read_stats(r: redis.Redis) -> ProbeStats:
    count, first, last = 0, float("inf"), 0.0
    stats: dict[bytes, bytes] = r.hgetall(STATS_KEY)  # type: ignore[assignment]
    for raw in stats.values():
        c, f, la = raw.decode().split()
        count += int(c)
        first = min(first, float(f))
        last = max(last, float(la))
    return ProbeStats(count, first, last)


def wait_for_count(r: redis.Redis, n: int, timeout: float, poll: float = 0.02) -> ProbeStats:
    """Poll until at least `n` handler completions were reported; raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        stats = read_stats(r)
        if stats.count >= n:
            return stats
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {stats.count}/{n} tasks completed within {timeout:.0f}s")
        time.sleep(poll)


def read_starts(r: redis.Redis) -> dict[str, float]:
    starts: dict[str, float] = {}
    entries: list[bytes] = r.lrange(LATENCY_KEY, 0, -1)  # type: ignore[assignment]
    for raw in entries:
        text, t = raw.decode().rsplit("|", 1)
        starts.setdefault(text, float(t))  # first start wins if a task ever ran twice
    return starts
