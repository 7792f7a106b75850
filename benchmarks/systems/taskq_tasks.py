"""taskq worker side: `taskq worker --actions benchmarks.systems.taskq_tasks`.

Replaces the built-in demo `uppercase` (a user's action may replace a demo one) with the same
code plus the probe. Async, like taskq's own demo actions, so it runs on the worker's loop.
"""

from __future__ import annotations

from typing import Any

import taskq
from benchmarks import probe


@taskq.action("uppercase")
async def uppercase(data: dict[str, Any]) -> dict[str, str]:
    return probe.uppercase(data)
