"""Cancel polling alone, against a real database: only the cancelled attempts are stopped."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskq.actions import Action
from taskq.queue import Queue
from taskq.worker.attempt import CANCELLED, Attempt
from taskq.worker.cancellations import Cancellations
from taskq.worker.identity import new_worker_id


async def test_a_check_stops_only_the_cancelled_attempts(queue: Queue) -> None:
    me = new_worker_id()
    ids = [(await queue.enqueue("wait")).id for _ in range(2)]
    claimed = await queue.driver.claim(me, 2, queues=None, lease_s=30, now=time.time(), start=2)
    release = asyncio.Event()

    async def wait(data: dict[str, Any]) -> None:
        await release.wait()

    with ThreadPoolExecutor(1) as threads:
        attempts = {t.id: Attempt(t, Action("wait", wait), threads) for t in claimed}
        watch = Cancellations(queue.driver, me, attempts, interval_s=60)
        await watch.check()
        assert all(a.stop_reason is None for a in attempts.values()), "nothing asked yet"
        await queue.cancel(ids[0])
        await watch.check()
        release.set()
        await asyncio.gather(*(a.future for a in attempts.values()))
    cancelled, other = attempts[ids[0]], attempts[ids[1]]
    assert (cancelled.stop_reason, cancelled.stop_flag.is_set()) == (CANCELLED, True)
    assert (other.stop_reason, other.stop_flag.is_set()) == (None, False)
