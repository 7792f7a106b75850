"""Cross-process wake-ups for a database with no notifications of its own (SQLite).

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
from collections.abc import Callable
from pathlib import Path

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
