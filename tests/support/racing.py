"""Claims racing from many connections to one store: what the flow-control contracts check
their limits against (each connection is another worker process, or another host)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from taskq.queue import Queue
from taskq.task import Claimed

CONNECTIONS, ROUNDS = 6, 3


async def racing_claims(database_url: str, *, n: int = 5) -> list[Claimed]:
    """``ROUNDS`` claims from each of ``CONNECTIONS`` queues on ``database_url`` at once,
    each for ``n`` tasks to start now."""
    async with contextlib.AsyncExitStack() as stack:
        queues = [
            await stack.enter_async_context(Queue.connect(database_url)) for _ in range(CONNECTIONS)
        ]
        return await asyncio.gather(
            *(
                q.driver.claim(f"w{i}", n, queues=None, lease_s=30.0, now=time.time(), start=n)
                for _ in range(ROUNDS)
                for i, q in enumerate(queues)
            )
        )
