"""How idle workers learn of work: wake-ups across processes.

SQLite has no notifications of its own: the datagram sockets below stand in for them.

Each consuming process binds a Unix datagram socket in a directory named after the
database file; a producer that commits new work sends one byte to every socket there.
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

log = logging.getLogger(__name__)


def wakeup_dir(database_path: str) -> Path:
    """Where the sockets for one database live (short: Unix socket paths max ~100 bytes)."""
    key = hashlib.sha1(os.path.realpath(database_path).encode(), usedforsecurity=False)
    return Path(tempfile.gettempdir()) / f"taskq-wakeup-{key.hexdigest()[:16]}"


class WakeupListener:
    """This process's socket; calls ``on_wakeup`` on the event loop when poked."""

    def __init__(self, database_path: str, on_wakeup: Callable[[], None]) -> None:
        self._dir = wakeup_dir(database_path)
        self._on_wakeup = on_wakeup
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
            while self._sock.recv(64):
                pass
        self._on_wakeup()

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
    """Pokes every listening process of one database; coalesces pokes within a loop turn."""

    def __init__(self, database_path: str, own: WakeupListener | None = None) -> None:
        self._dir = wakeup_dir(database_path)
        self._own = own
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._scheduled = False

    def poke(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._scheduled = False
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
                self._sock.sendto(b"!", str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # its process is gone
            except BlockingIOError:
                pass  # its buffer is full of earlier pokes: it will wake anyway
            except OSError as exc:
                log.debug("wake-up to %s failed: %s", path, exc)

    def close(self) -> None:
        self._sock.close()


class Datagrams:
    """How idle workers of a SQLite database learn of work: at once in this process, and
    through the datagram sockets above in the others. ``path`` None (an in-memory
    database): this process only."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._new_work = asyncio.Event()
        self._listener: WakeupListener | None = None
        self._sender: WakeupSender | None = None

    def open(self) -> None:
        if self._path is not None:
            self._listener = WakeupListener(self._path, self._new_work.set)
            self._sender = WakeupSender(self._path, own=self._listener)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def work_available(self) -> None:
        """Wake consumers here at once, and in other processes through their sockets."""
        self._new_work.set()
        if self._sender is not None:
            self._sender.poke()

    async def wait(self, timeout_s: float) -> None:
        """Return when new work may be ready, or after ``timeout_s``."""
        # Only processes that consume listen: an API-only process is never poked.
        if self._listener is not None and self._listener.path is None:
            try:
                self._listener.start()
            except OSError as exc:
                log.warning("no cross-process wake-ups (polling every %ss): %s", timeout_s, exc)
                self._listener = None
        await wait_for(self._new_work, timeout_s)


async def wait_for(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` at most ``timeout_s``, then clear it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):  # unlike wait_for, no task of its own
            await event.wait()
    event.clear()


# The longest pause between attempts to get a lost LISTEN connection back.
LISTEN_RETRY_MAX_S = 10.0


class Notifications(Protocol):
    """A connection that delivers PostgreSQL's notifications."""

    def notifies(self) -> AsyncGenerator[Any, None]: ...

    async def close(self) -> None: ...


class Listen:
    """How idle workers of a PostgreSQL database learn of work: every write that makes work
    ready notifies in its own statement, and each process keeps one connection LISTENing.
    A lost connection is made again (``connect``), with a wake-up for whatever was sent
    while it was away; the poll only covers that gap."""

    def __init__(self, connect: Callable[[], Awaitable[Notifications]], where: str) -> None:
        self._connect = connect
        self._where = where
        self._new_work = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, conn: Notifications) -> None:
        """Listen on ``conn`` (the driver made it first: it fails fast, with the server's
        own reason) and, if it is lost, on new ones, until ``stop``."""
        self._task = asyncio.create_task(self._keep_listening(conn))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def work_available(self) -> None:
        """Wake this process's consumers at once (others wake on the notification)."""
        self._new_work.set()

    async def wait(self, timeout_s: float) -> None:
        await wait_for(self._new_work, timeout_s)

    async def _keep_listening(self, conn: Notifications | None) -> None:
        delay_s = 0.5
        try:
            while True:
                try:
                    if conn is None:
                        conn = await self._connect()
                        log.info("LISTEN connection to %s is back", self._where)
                        delay_s = 0.5
                        self._new_work.set()  # anything sent while we were away
                    async with contextlib.aclosing(conn.notifies()) as notifies:
                        async for _ in notifies:
                            self._new_work.set()
                except Exception as exc:  # whatever broke it, keep the worker going
                    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    if conn is not None:
                        log.warning(
                            "lost the LISTEN connection to %s (%s): polling until it is back",
                            self._where,
                            reason,
                        )
                        await conn.close()
                        conn = None
                    else:
                        log.debug("LISTEN reconnect failed: %s", reason)
                    await asyncio.sleep(delay_s)
                    delay_s = min(delay_s * 2, LISTEN_RETRY_MAX_S)
        finally:
            if conn is not None:
                await conn.close()
