"""``GET /events``: what happens to tasks and workers, as Server-Sent Events.

One subscription per process (``Queue.events``, fed by the store's wake-up channel from
every process) serves every client of that process: each message is encoded once and
handed to each client's outbox, and a ``stats`` message once a second carries the cached
``GET /stats`` answer, so a dashboard needs no polling of its own. A client that cannot
keep up loses what does not fit in its outbox and is told to read afresh (``resync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from taskq import codec
from taskq.api.schema import iso
from taskq.api.stats import StatsAnswers
from taskq.api.waiting import Waiters
from taskq.api.wire import PerSecondOut, StatsEventOut, TaskEventOut, WorkerEventOut
from taskq.errors import TaskqError
from taskq.events import Batch
from taskq.queue import Queue

log = logging.getLogger(__name__)

OUTBOX = 500  # messages a client may fall behind by
TICK_S = 1.0
# a comment line now and then: proxies and browsers keep an idle stream open
KEEPALIVE_S = 15.0
RETRY_MS = 2000  # how soon a browser reconnects


def message(event: str, data: object) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (event.encode(), codec.encode(data).encode())


def _resync(reason: str) -> bytes:
    return message("resync", {"reason": reason})


class Client:
    """One open stream: what is to be sent to it."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue(OUTBOX)

    def send(self, chunk: bytes) -> None:
        try:
            self.outbox.put_nowait(chunk)
        except asyncio.QueueFull:  # too slow: what it missed must be read afresh
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(_resync("this client fell behind"))

    def end(self) -> None:
        while self.outbox.full():
            self.outbox.get_nowait()
        self.outbox.put_nowait(None)


class EventStreams:
    """Every ``/events`` client of one app, and the one subscription that feeds them."""

    def __init__(self, queue: Queue, stats: StatsAnswers) -> None:
        self._queue = queue
        self._stats = stats
        self._clients: set[Client] = set()
        self._unsubscribe: Callable[[], Awaitable[None]] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._this_second: dict[str, int] = {}
        self._closed = False
        self._subscribing = asyncio.Lock()

    async def connect(self) -> Client:
        """A new client (TaskqError if the store cannot be listened to)."""
        if self._closed:
            raise TaskqError("the service is stopping")
        client = Client()
        async with self._subscribing:  # clients arriving together share one subscription
            if self._unsubscribe is None:
                self._unsubscribe = await self._queue.events.subscribe(self._on_batch)
                self._ticker = asyncio.create_task(self._tick())
            self._clients.add(client)
        return client

    async def disconnect(self, client: Client) -> None:
        async with self._subscribing:
            self._clients.discard(client)
            if not self._clients:
                await self._stop()

    async def close(self) -> None:
        """End every stream (the service is stopping: open streams must not hold it up)."""
        self._closed = True
        for client in self._clients:
            client.end()
        self._clients.clear()
        await self._stop()

    async def _stop(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        if unsubscribe is not None:
            await unsubscribe()

    def _broadcast(self, chunk: bytes) -> None:
        for client in self._clients:
            client.send(chunk)

    def _on_batch(self, batch: Batch | None) -> None:
        if batch is None:
            self._broadcast(_resync("events may have been missed"))
            return
        for kind, n in batch.counts.items():
            self._this_second[kind] = self._this_second.get(kind, 0) + n
        for t in batch.tasks:
            out = TaskEventOut(t.kind, t.id, t.status, t.queue, t.action, t.attempt, iso(t.at))
            self._broadcast(message("task", out))
        for w in batch.workers:
            self._broadcast(message("worker", WorkerEventOut(w.kind, w.id, iso(w.at))))
        if batch.resync is not None:
            self._broadcast(_resync(batch.resync))
        elif batch.dropped:
            self._broadcast(_resync(f"{batch.dropped} changes were not sent one by one"))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            counts, self._this_second = self._this_second, {}
            per_second = PerSecondOut(
                counts.get("submitted", 0),
                counts.get("started", 0),
                counts.get("completed", 0),
                counts.get("failed", 0),
            )
            try:
                stats = await self._stats.stats.get()
            except TaskqError as exc:  # the store is out: say so at the next tick
                log.debug("no stats for /events: %s", exc)
                continue
            self._broadcast(message("stats", StatsEventOut(iso(time.time()), per_second, stats)))


async def stream_events(request: Request) -> Response:
    """GET /events: a Server-Sent Events stream of task and worker changes, with stats
    once a second."""
    streams: EventStreams = request.app.state.event_streams
    client = await streams.connect()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"retry: %d\n: taskq events\n\n" % RETRY_MS
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        chunk = await client.outbox.get()
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if chunk is None:
                    return
                yield chunk
        finally:
            await streams.disconnect(client)

    return StreamingResponse(
        chunks(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def end_streams(app: Starlette) -> None:
    """End the app's event streams and answer its waiting requests (``?wait=``), if it has
    started: uvicorn waits for every answer to finish before it stops."""
    streams: EventStreams | None = getattr(app.state, "event_streams", None)
    if streams is not None:
        await streams.close()
    waiters: Waiters | None = getattr(app.state, "waiters", None)
    if waiters is not None:
        await waiters.close()
