"""The aiohttp transport behind httpx (ADR 0009): same responses, same exception types as
httpx's own transport, keep-alive reuse, and timeouts from ``httpx.Timeout``."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from adapters.openai_http.aiohttp_transport import AiohttpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length) if length else b""


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler, self.connections = handler, 0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> Server:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def response(status: int, body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=AiohttpTransport(max_connections=4, keepalive_expiry=5),
                             timeout=httpx.Timeout(connect=1, read=0.3, write=1, pool=1))
    yield http
    await http.aclose()


async def test_request_and_response_round_trip_with_keep_alive(client: httpx.AsyncClient) -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            seen.append((head, body))
            writer.write(response(201, b'{"ok": true}', "Content-Type: application/json", "X-Multi: a",
                                  "X-Multi: b"))
            await writer.drain()

    async with Server(handler) as server:
        for i in range(3):
            r = await client.post(f"{server.url}/v1/x?q={i}", content=b'{"a": 1}',
                                  headers={"X-Request-ID": f"rid-{i}", "Content-Type": "application/json"})
            assert r.status_code == 201 and r.json() == {"ok": True}
            assert r.headers.get_list("x-multi") == ["a", "b"]
        assert server.connections == 1  # one kept-alive connection for all three
    head, body = seen[2]
    assert head.startswith(b"POST /v1/x?q=2 HTTP/1.1")
    assert b"x-request-id: rid-2" in head.lower() and b"content-length: 8" in head.lower()
    assert body == b'{"a": 1}'


async def test_gzip_is_decoded_once_by_httpx(client: httpx.AsyncClient) -> None:
    payload = b'{"text": "' + b"x" * 1000 + b'"}'

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response(200, gzip.compress(payload), "Content-Encoding: gzip"))
        await writer.drain()

    async with Server(handler) as server:
        r = await client.get(server.url)
    assert r.content == payload


async def test_refused_connection_is_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{port}/")


async def test_a_silent_server_is_read_timeout(client: httpx.AsyncClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with Server(handler) as server:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url)


async def test_a_dropped_connection_is_remote_protocol_error(client: httpx.AsyncClient) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # then close without answering

    async with Server(handler) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)


@pytest.mark.parametrize(("answer", "error"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", httpx.ReadError),  # truncated body
    (b"this is not http\r\n\r\n", httpx.RemoteProtocolError),  # not HTTP at all
], ids=["truncated-body", "garbage"])
async def test_a_broken_answer_is_the_httpx_error_for_it(client: httpx.AsyncClient, answer: bytes,
                                                          error: type[Exception]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    async with Server(handler) as server:
        with pytest.raises(error):
            await client.get(server.url)
