"""Tiny statistics helpers (no numpy needed in the hot paths)."""

from __future__ import annotations

import statistics
from typing import Any


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile, pct in [0, 100]."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(runs: list[float]) -> dict[str, Any]:
    """Median and spread (min/max) of repeated measurements."""
    return {
        "runs": runs,
        "median": statistics.median(runs),
        "min": min(runs),
        "max": max(runs),
    }
