"""RQ worker side: jobs reference `benchmarks.systems.rq_tasks.uppercase`."""

from __future__ import annotations

from benchmarks import probe


def uppercase(data: dict[str, str]) -> dict[str, str]:
    return probe.uppercase(data)
