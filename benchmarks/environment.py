"""What the benchmark ran on: library versions, Python, CPU, services, date."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sqlite3
import subprocess
from dataclasses import asdict
from importlib import metadata
from typing import Any

from benchmarks.config import PG_ADMIN_DSN, REDIS_URL, Sizes

PACKAGES = (
    "taskq",
    "huey",
    "dramatiq",
    "celery",
    "kombu",
    "rq",
    "arq",
    "taskiq",
    "taskiq-redis",
    "saq",
    "procrastinate",
    "psycopg",
    "redis",
    "hiredis",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "matplotlib",
    "psutil",
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _services() -> dict[str, str]:
    out: dict[str, str] = {"sqlite": sqlite3.sqlite_version}
    try:
        import redis

        out["redis-server"] = str(redis.Redis.from_url(REDIS_URL).info("server")["redis_version"])
    except Exception as exc:
        out["redis-server"] = f"unavailable: {exc}"
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            out["postgresql"] = str(row[0]) if row else "?"
    except Exception as exc:
        out["postgresql"] = f"unavailable: {exc}"
    try:
        wrk = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, timeout=5, check=False
        )
        out["wrk"] = (wrk.stdout or wrk.stderr).split()[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        out["wrk"] = "not installed"
    return out


def describe(
    *, quick: bool, sizes: Sizes, systems: list[str], workloads: list[str]
) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "sizes": asdict(sizes),
        "systems": systems,
        "workloads": workloads,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_at_start": os.getloadavg(),
        "versions": {p: _version(p) for p in PACKAGES},
        "services": _services(),
    }
