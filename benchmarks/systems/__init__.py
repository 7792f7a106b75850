"""System adapters, loaded lazily so one broken library cannot break the others."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from benchmarks.systems.base import System

# name -> "module:Class"; order is the report's row order (taskq first).
REGISTRY: dict[str, str] = {
    "taskq": "benchmarks.systems.taskq_:Taskq",
    "taskq-inproc": "benchmarks.systems.taskq_:TaskqInProcess",
    "taskq-normal": "benchmarks.systems.taskq_:TaskqNormal",
    "taskq-pg": "benchmarks.systems.taskq_:TaskqPostgres",
    "huey": "benchmarks.systems.huey_:Huey",
    "dramatiq": "benchmarks.systems.dramatiq_:Dramatiq",
    "celery": "benchmarks.systems.celery_:Celery",
    "rq": "benchmarks.systems.rq_:RQ",
    "arq": "benchmarks.systems.arq_:Arq",
    "taskiq": "benchmarks.systems.taskiq_:Taskiq",
    "saq": "benchmarks.systems.saq_:Saq",
    "procrastinate": "benchmarks.systems.procrastinate_:Procrastinate",
}


# Run only when named in --only.
OPT_IN: frozenset[str] = frozenset()


def load(name: str) -> System:
    module_name, cls_name = REGISTRY[name].split(":")
    cls: type[System] = getattr(importlib.import_module(module_name), cls_name)
    return cls()


def venv_bin(tool: str) -> str:
    """A console script installed next to the running interpreter (the bench venv)."""
    return str(Path(sys.executable).parent / tool)
