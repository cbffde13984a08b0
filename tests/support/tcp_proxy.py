"""A TCP proxy that can be taken down and brought back on the same port, for outage tests.

The server behind it (moto's S3 server keeps its buckets in memory) stays up; the service
talks to the proxy, so an outage loses no state::

    with TcpProxy("127.0.0.1", moto_port) as proxy:   # listens on proxy.port
        proxy.down()   # listener closed, every open connection reset: connects are refused
        proxy.up()     # listening again on the same port

The proxy runs its own asyncio loop in a daemon thread; ``down``/``up`` block until done.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Self

from tests.support.services import free_port

_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, port: int | None = None,
                 host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0  # accepted since the start: shows the service really went through

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        self._thread.start()
        self.up()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.down()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: object, timeout: float = 10) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    async def _up(self) -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The port was ours a moment ago: connections of the last period may sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def _down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # stops listening at once: new connects are refused
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, like a server that went away
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just as the proxy went down
            client_writer.transport.abort()
            return
        self.connections += 1
        try:
            target_reader, target_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, target_writer))
        try:
            await asyncio.gather(self._pipe(client_reader, target_writer),
                                 self._pipe(target_reader, client_writer))
        finally:
            for writer in (client_writer, target_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(_CHUNK):
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            writer.transport.abort()
