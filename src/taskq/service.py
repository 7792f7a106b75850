"""What ``taskq run`` adds to the HTTP API: a worker in the same process, on the same queue.

The HTTP layer knows nothing of workers; it runs whatever it is given beside itself with
the queue it opened (``create_app(..., alongside=...)``). Sharing that queue is what lets
the worker hear of a task the moment the API commits it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from taskq.config import Settings
from taskq.queue import Queue
from taskq.worker import Worker


class WorkerAlongside:
    """Runs a worker configured by ``settings`` on a given queue, for as long as it is open."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.worker: Worker | None = None

    @contextlib.asynccontextmanager
    async def __call__(self, queue: Queue) -> AsyncIterator[None]:
        """Start the worker on ``queue``; on exit stop it and wait for its shutdown."""
        worker = Worker.from_settings(queue, self.settings)
        self.worker = worker
        consuming = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            worker.stop()
            await consuming

    def exit_if_stuck(self) -> None:
        """End the process if handler threads outlived the worker's shutdown.

        Call it once the queue is closed (every write committed): see
        :meth:`Worker.exit_if_stuck`.
        """
        if self.worker is not None:
            self.worker.exit_if_stuck()


def with_worker(settings: Settings) -> WorkerAlongside:
    """What to run alongside the HTTP API for it to consume tasks too (``taskq run``)."""
    return WorkerAlongside(settings)
