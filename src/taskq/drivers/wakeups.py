"""How idle workers learn of work: wake-ups across processes.

SQLite has no notifications of its own: the datagram sockets below stand in for them.

Each consuming process binds a Unix datagram socket in a directory named after the
database file; a producer that commits new work sends one byte to every socket there.
Events (taskq/events.py) travel the same way, through sockets in a directory of their own
that only their listeners bind.
A worker in another process then claims within microseconds instead of at its next poll.
Delivery is best effort, the poll interval still covers a lost datagram, and a socket
whose owner died is removed by the first producer that finds it refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import tempfile
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from taskq.events import Deliver

log = logging.getLogger(__name__)


def wakeup_dir(database_path: str, kind: str = "wakeup") -> Path:
    """Where the sockets for one database live, one directory per ``kind`` of message
    (short: Unix socket paths max ~100 bytes)."""
    key = hashlib.sha1(os.path.realpath(database_path).encode(), usedforsecurity=False)
    return Path(tempfile.gettempdir()) / f"taskq-{kind}-{key.hexdigest()[:16]}"


# Above the largest message sent (an events batch stays under 8,000 bytes)
MAX_MESSAGE = 65_536


class WakeupListener:
    """This process's socket in ``directory``; calls ``on_message`` with each message, on
    the event loop."""

    def __init__(
        self, directory: Path, on_message: Callable[[bytes], None], *, size: int = 64
    ) -> None:
        self._dir = directory
        self._on_message = on_message
        self._size = size  # the longest message read whole
        self._sock: socket.socket | None = None
        self.path: Path | None = None

    def start(self) -> None:
        self._dir.mkdir(mode=0o700, exist_ok=True)
        self.path = self._dir / f"{os.getpid()}-{id(self):x}.sock"
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(str(self.path))
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)

    def _drain(self) -> None:
        assert self._sock is not None
        with contextlib.suppress(BlockingIOError):
            while True:
                self._on_message(self._sock.recv(self._size))

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


class WakeupSender:
    """Sends to every listening process in ``directory`` but ``own``."""

    def __init__(self, directory: Path, own: WakeupListener | None = None) -> None:
        self._dir = directory
        self._own = own
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._scheduled = False

    def poke(self) -> None:
        """Send a wake-up, once for all the pokes of this turn of the loop."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._poke_now)

    def _poke_now(self) -> None:
        self._scheduled = False
        self.send(b"!")

    def send(self, message: bytes) -> None:
        own = self._own.path if self._own else None
        try:
            names = os.listdir(self._dir)
        except FileNotFoundError:
            return
        for name in names:
            path = self._dir / name
            if path == own:
                continue
            try:
                self._sock.sendto(message, str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # its process is gone
            except BlockingIOError:
                pass  # its buffer is full: it has plenty to read already
            except OSError as exc:
                log.debug("datagram to %s failed: %s", path, exc)

    def close(self) -> None:
        self._sock.close()


class Datagrams:
    """How idle workers of a SQLite database learn of work: at once in this process, and
    through the datagram sockets above in the others; and how events (taskq/events.py)
    reach every process, through sockets of their own. ``path`` None (an in-memory
    database): this process only."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._new_work = asyncio.Event()
        self._listener: WakeupListener | None = None
        self._sender: WakeupSender | None = None
        self._event_sender: WakeupSender | None = None
        self._event_listeners: list[Deliver] = []  # this process's, when ``path`` is None

    def open(self) -> None:
        if self._path is not None:
            self._listener = WakeupListener(wakeup_dir(self._path), lambda _: self._new_work.set())
            self._sender = WakeupSender(wakeup_dir(self._path), own=self._listener)
            self._event_sender = WakeupSender(wakeup_dir(self._path, "events"))

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        for sender in (self._sender, self._event_sender):
            if sender is not None:
                sender.close()
        self._sender = self._event_sender = None

    def work_available(self) -> None:
        """Wake consumers here at once, and in other processes through their sockets."""
        self._new_work.set()
        if self._sender is not None:
            self._sender.poke()

    def listen(self) -> None:
        """Bind this process's socket, once: other processes poke it from now on. Only
        processes that consume listen: an API-only process is never poked."""
        if self._listener is not None and self._listener.path is None:
            try:
                self._listener.start()
            except OSError as exc:
                log.warning("no cross-process wake-ups (polling instead): %s", exc)
                self._listener = None

    async def wait(self, timeout_s: float) -> None:
        """Return when new work may be ready, or after ``timeout_s``; a first wait without
        ``listen`` listens from now on."""
        self.listen()
        await wait_for(self._new_work, timeout_s)

    def publish_events(self, message: bytes) -> None:
        """Send ``message`` to every process listening for events (this one too)."""
        if self._event_sender is not None:
            self._event_sender.send(message)
        for deliver in list(self._event_listeners):
            deliver(message)

    def listen_events(self, deliver: Deliver) -> Callable[[], Awaitable[None]]:
        """Call ``deliver`` with each events message from now on; returns how to stop."""
        if self._path is None:
            self._event_listeners.append(deliver)

            async def forget() -> None:
                self._event_listeners.remove(deliver)

            return forget
        listener = WakeupListener(wakeup_dir(self._path, "events"), deliver, size=MAX_MESSAGE)
        listener.start()

        async def stop() -> None:
            listener.stop()

        return stop


async def wait_for(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` at most ``timeout_s``, then clear it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):  # unlike wait_for, no task of its own
            await event.wait()
    event.clear()


# The longest pause between attempts to get a lost LISTEN connection back.
LISTEN_RETRY_MAX_S = 10.0


def _reason(exc: BaseException) -> str:
    """An error's first line, for a log line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


class Notifications(Protocol):
    """A connection that delivers PostgreSQL's notifications."""

    def notifies(self) -> AsyncGenerator[Any, None]: ...

    async def close(self) -> None: ...


class Listen:
    """One connection LISTENing on PostgreSQL, made again (``connect``) when it is lost;
    ``deliver`` gets each notification's payload, and None once a lost connection is back
    (whatever was sent while it was away is missed).

    Idle workers learn of work this way: every write that makes work ready notifies in its
    own statement, and a process listens once one of its workers is about to claim
    (``listen``; ``work_available`` wakes this process's own at once). A process that only
    enqueues never listens: it would hear a notification of its own for every enqueue. The
    poll covers the moments with no connection listening. Events (taskq/events.py) have a
    connection of their own, made while someone in the process listens.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Notifications]],
        where: str,
        deliver: Deliver | None = None,
    ) -> None:
        self._connect = connect
        self._where = where
        self._new_work = asyncio.Event()
        self._deliver = deliver or (lambda _: self._new_work.set())
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self, conn: Notifications | None = None, *, lost: bool = False) -> None:
        """Listen on ``conn`` (made by the caller, so that it fails fast with the server's
        own reason), or on a new connection, and, if it is lost, on new ones, until
        ``stop``. ``lost``: the caller failed to make one, and said so."""
        self._task = asyncio.create_task(self._keep_listening(conn, lost))

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def work_available(self) -> None:
        """Wake this process's consumers at once (others wake on the notification)."""
        self._new_work.set()

    async def listen(self) -> None:
        """Listen from now on; return once the connection listens, or once making it
        failed (it is made again in the background, and the poll covers meanwhile)."""
        if self._task is not None or self._stopped:
            return
        conn: Notifications | None = None
        try:
            conn = await self._connect()
        except Exception as exc:
            log.warning("cannot LISTEN on %s (%s): polling until it can", self._where, _reason(exc))
        if self._task is None:  # no wait started one while this connected
            self.start(conn, lost=conn is None)
        elif conn is not None:
            await conn.close()

    async def wait(self, timeout_s: float) -> None:
        """Until a notification comes (or ``work_available``), at most ``timeout_s``. A
        first wait without ``listen`` starts listening, and is woken once it does (what was
        sent before is missed)."""
        if self._task is None and not self._stopped:
            self.start()
        await wait_for(self._new_work, timeout_s)

    async def _keep_listening(self, conn: Notifications | None, lost: bool) -> None:
        """``lost``: no connection listens, and that was logged."""
        delay_s = 0.5
        try:
            while True:
                try:
                    if conn is None:
                        conn = await self._connect()
                        if lost:
                            log.info("LISTEN connection to %s is back", self._where)
                        delay_s = 0.5
                        self._deliver(None)  # anything sent while nobody listened
                    async with contextlib.aclosing(conn.notifies()) as notifies:
                        async for notify in notifies:
                            self._deliver(notify.payload.encode())
                except Exception as exc:  # whatever broke it, keep the worker going
                    reason = _reason(exc)
                    if conn is not None:
                        log.warning(
                            "lost the LISTEN connection to %s (%s): polling until it is back",
                            self._where,
                            reason,
                        )
                        await conn.close()
                        conn = None
                        lost = True
                    elif not lost:
                        log.warning(
                            "cannot LISTEN on %s (%s): polling until it can",
                            self._where,
                            reason,
                        )
                        lost = True
                    else:
                        log.debug("LISTEN reconnect failed: %s", reason)
                    await asyncio.sleep(delay_s)
                    delay_s = min(delay_s * 2, LISTEN_RETRY_MAX_S)
        finally:
            if conn is not None:
                await conn.close()
