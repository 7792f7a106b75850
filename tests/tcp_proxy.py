"""A TCP forwarder a test can cut, silence and restore: the database server becomes
unreachable for one driver (and comes back) while it keeps running for everyone else; or
the connection to an HTTP service breaks after a request arrived, before its answer."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` while started."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0  # chosen by the first start, kept by the next ones
        self.is_silent = False
        self.answers_to_drop = 0
        self._server: asyncio.Server | None = None
        self._stopped = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @classmethod
    def to(cls, url: str) -> TcpProxy:
        """A proxy to the server of a ``postgresql://`` URL."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        user, _, _ = parts.netloc.rpartition("@")
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))

    async def start(self) -> None:
        self.is_silent = False
        self._stopped = False
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and close every open one, both ways, as a server
        going away would."""
        # a connection accepted just before, whose handler has not run yet, is closed by
        # the handler itself (the server's wait_closed does not wait for it on 3.11)
        self._stopped = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def silence(self) -> None:
        """Keep every connection open but forward nothing, as over a dead network link."""
        self.is_silent = True

    def drop_answers(self, count: int = 1) -> None:
        """Forward requests as usual, but close the connection as each of the next
        ``count`` answers starts to come back: the server acted, the client never hears."""
        self.answers_to_drop = count

    async def _forward(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(client_w)
        try:
            if self._stopped:
                raise OSError("the proxy is stopped")
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
            if self._stopped:
                server_w.close()
                raise OSError("the proxy is stopped")
        except OSError:
            client_w.close()
        else:
            self._writers.add(server_w)
            await asyncio.gather(
                self._pipe(client_r, server_w),
                self._pipe(server_r, client_w, answers=True),
                return_exceptions=True,
            )
            self._writers.discard(server_w)
        finally:
            self._writers.discard(client_w)
            self._handlers.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, answers: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                if answers and self.answers_to_drop > 0:
                    self.answers_to_drop -= 1
                    return  # unforwarded; closing the writer closes the client's connection
                if not self.is_silent:
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.close()  # the other direction then ends too
            with contextlib.suppress(OSError):
                await writer.wait_closed()
