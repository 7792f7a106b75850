"""The HTTP server: uvicorn with taskq's limits on slow and oversized request heads.

uvicorn's httptools protocol reads a request head of any size for as long as the client
takes; :class:`_Protocol` bounds both. Request bodies are bounded where they are read
(:func:`taskq.api.body.read_body`). The listening socket is bound by :func:`bind` before
anything else starts, so a busy port is one clear error, not a half-started service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from taskq import codec
from taskq.api import events
from taskq.config import Settings
from taskq.errors import TaskqError

log = logging.getLogger(__name__)

BACKLOG = 2048  # uvicorn's default
# After refusing a request, read and drop what the client still sends for this long before
# closing: closing with unread data makes the kernel send a reset, and the client may then
# lose the answer it was sent.
LINGER_S = 2.0


class CannotListen(TaskqError):
    """The HTTP port cannot be bound (in use, not permitted, no such address)."""


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, or CannotListen with the reason in one line."""
    # one address, the way uvicorn binds for its own worker processes
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # listen now too: a port another socket merely bound is refused only here
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise CannotListen(f"cannot listen on {_address(host, port)}: {reason}") from None
    return sock


def serve(app: Starlette, settings: Settings, sock: socket.socket) -> None:
    """Serve ``app`` on the bound ``sock`` until SIGTERM/SIGINT; returns after shutdown."""
    config = uvicorn.Config(
        app,
        loop="auto",  # uvloop where it is installed, else asyncio
        http=_protocol(settings),
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.grace_s) or None,
    )
    server = _Server(config, end_streams=lambda: events.end_streams(app))
    server.run(sockets=[sock])
    if not server.started:
        raise TaskqError("the service did not start (see the log above)")


class _Server(uvicorn.Server):
    """uvicorn, except that a graceful shutdown on SIGTERM/SIGINT exits 0.

    uvicorn re-raises the signal after shutting down; taskq's contract is exit 0 once
    running tasks are finished or handed back. And open event streams end as the shutdown
    begins: uvicorn waits for every answer to finish, which a stream never does.
    """

    def __init__(self, config: uvicorn.Config, end_streams: Callable[[], Awaitable[None]]):
        super().__init__(config)
        self.end_streams = end_streams

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.end_streams()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # uvicorn names the address only for sockets it bound itself
        if self.started and sockets:
            log.info("listening on http://%s", _address(*sockets[0].getsockname()[:2]))


def _protocol(settings: Settings) -> type[_Protocol]:
    class Protocol(_Protocol):
        max_header_bytes = settings.max_header_bytes
        header_timeout_s = settings.header_timeout_s

    return Protocol


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size limit and a deadline on each request head.

    A head (request line and headers) larger than ``max_header_bytes`` is answered 431; one
    not complete within ``header_timeout_s`` is answered 408 (a connection that sent
    nothing is just closed). The deadline runs from the connection's start for its first
    request and from the first byte of each later one; between requests uvicorn's own
    keep-alive timeout applies.
    """

    max_header_bytes = 64 * 1024
    header_timeout_s = 10.0

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = True  # the next bytes belong to a request head
        self._head_begun = False  # a byte of that head has been parsed
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, self._on_head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # A head that starts in the same chunk as the end of the previous request is
        # counted from the next chunk: a slack of one chunk, never an unbounded head.
        if self._lingering:
            return  # the answer is sent; the rest of the request is read only to be dropped
        while self._in_head:
            room = self.max_header_bytes - self._head_bytes
            if len(data) < room:
                self._head_bytes += len(data)
                break
            # feed the parser only what the head may still take, then see whether it ended:
            # an oversized header is never buffered whole
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing() or self.parser.should_upgrade():
                return  # a 400 for a malformed request, or an upgrade: uvicorn has handled it
            if self._in_head and self._head_bytes >= self.max_header_bytes:
                self._refuse(431, f"request headers larger than {self.max_header_bytes} bytes")
                return
            if not data:
                return
        super().data_received(data)

    # httptools parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._deadline is None:  # the first request's deadline runs from the connection
            self._arm(self.header_timeout_s, self._on_head_timeout)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_begun = False
        self._head_bytes = 0

    def _on_head_timeout(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # a pipelined head is late while the previous answer is still being written:
            # let that answer finish, then close
            self.cycle.keep_alive = False
            return
        if not self._head_begun:
            log.debug("closing a connection that sent no request in time")
            self.transport.close()
            return
        self._refuse(408, "request headers not received in time")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with ``{"error": message}`` and close the connection."""
        self._disarm()
        client = _address(*self.client) if self.client else "a client"
        log.info("%s from %s: answered %d", message, client, status)
        if self.cycle is not None and not self.cycle.response_complete:
            # an answer to an earlier request is being written; another cannot go in between
            self.transport.close()
            return
        body = codec.encode({"error": message}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join([*head, body]))
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client sees the end of the answer at once
        self._arm(LINGER_S, self.transport.close)

    def _arm(self, delay_s: float, callback: Callable[[], object]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay_s, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
