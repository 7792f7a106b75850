"""The small interface every system adapter implements.

An adapter lives in the *driver* subprocess (`python -m benchmarks.drive`): it enqueues, and it
describes how the harness must start its worker processes. Worker-side code is in a separate
`*_tasks.py` module that only the worker processes (and the producer, for task references) import.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

ALL_WORKLOADS = frozenset({"enqueue", "bulk", "drain", "latency"})


@dataclass
class WorkerSpec:
    """One OS process the harness starts (it may fork children of its own)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class BulkApi:
    call: str  # e.g. "Queue.enqueue_many(1,000 jobs)"
    batched: bool  # True: one round trip / transaction per call; False: loops one send per task


class System(ABC):
    name: ClassVar[str]
    workloads: ClassVar[frozenset[str]] = ALL_WORKLOADS
    bulk_api: ClassVar[BulkApi | None] = None
    results: ClassVar[str]  # how the task's return value is stored

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect the producer."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Disconnect the producer."""

    async def reset(self) -> None:  # noqa: B027 - optional hook
        """Drop this system's state beyond the shared Redis FLUSHDB the harness does."""

    @abstractmethod
    async def enqueue(self, data: dict[str, str]) -> None:
        """Enqueue one `uppercase` task with one library call."""

    async def enqueue_many(self, items: list[dict[str, str]]) -> None:
        """Enqueue a batch with the library's bulk API (only if `bulk_api` is set)."""
        raise NotImplementedError

    @abstractmethod
    def worker_specs(self, procs: int) -> list[WorkerSpec]:
        """Commands that give `procs` worker processes with the library's default settings."""

    @abstractmethod
    def settings(self, procs: int) -> dict[str, Any]:
        """Exactly how the workers and producer are configured, for the report."""

    async def count_results(self) -> int | None:
        """How many results/completions the system itself recorded (None: not checkable)."""
        return None

    def inprocess_worker(self) -> AbstractAsyncContextManager[None] | None:
        """A worker running in the producer's event loop, if this variant uses one."""
        return None
