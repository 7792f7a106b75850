"""A user actions module for ``--actions`` that records when and where each task runs.

Each run appends ``start <key> <pid> <monotonic_ns>`` and ``end <key> <pid> <monotonic_ns>``
to a log file with one O_APPEND write per line, so lines from several processes never
interleave. ``key`` is a test-chosen value in the task's data (handlers do not see task ids).
CLOCK_MONOTONIC is one clock for every process on the machine, so times compare across pids.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

MODULE = "probe_actions"

SOURCE = """\
import os
import time

import taskq

LOG = {log!r}


def _record(event, key):
    line = f"{{event}} {{key}} {{os.getpid()}} {{time.monotonic_ns()}}\\n".encode()
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@taskq.action("record")
def record(data):
    _record("start", data["key"])
    time.sleep(float(data.get("sleep_s", 0.05)))
    _record("end", data["key"])
    return {{"key": data["key"], "pid": os.getpid()}}


@taskq.action("boom")
def boom(data):
    raise RuntimeError(f"boom {{data['key']}}")


@taskq.action("refuse")
async def refuse(data):
    raise taskq.Fail(f"refused {{data['key']}}")
"""


@dataclass(frozen=True)
class Run:
    """One execution of a task's handler in one process (``end_ns`` None: never finished)."""

    key: str
    pid: int
    start_ns: int
    end_ns: int | None


def write_module(directory: Path) -> Path:
    """Write ``probe_actions.py`` into ``directory``; return the path of its run log."""
    log = directory / "probe-runs.log"
    (directory / f"{MODULE}.py").write_text(SOURCE.format(log=str(log)))
    return log


def read_runs(log: Path) -> list[Run]:
    """Every run the log records, pairing each start with the same process's next end."""
    open_runs: dict[tuple[str, int], list[int]] = defaultdict(list)
    runs: list[Run] = []
    text = log.read_text() if log.exists() else ""
    for line in text.splitlines():
        event, key, pid_text, ns_text = line.split()
        pid, ns = int(pid_text), int(ns_text)
        if event == "start":
            open_runs[(key, pid)].append(ns)
        else:
            assert event == "end", line
            start_ns = open_runs[(key, pid)].pop(0)
            runs.append(Run(key, pid, start_ns, ns))
    runs += [Run(k, p, s, None) for (k, p), starts in open_runs.items() for s in starts]
    return runs


def overlapping(runs: list[Run]) -> list[tuple[Run, Run]]:
    """Pairs of runs of the same key whose intervals overlap (an unfinished run never ends)."""
    by_key: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_key[run.key].append(run)
    pairs = []
    for same in by_key.values():
        same.sort(key=lambda r: r.start_ns)
        for a, b in itertools.pairwise(same):
            if a.end_ns is None or b.start_ns < a.end_ns:
                pairs.append((a, b))
    return pairs
