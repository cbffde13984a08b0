"""An ``httpx`` transport that sends requests with aiohttp (ADR 0009).

The adapters keep speaking httpx (requests, responses, exceptions, timeouts); only the wire
work moves. On the benchmark machine httpx's own pool (httpcore over anyio) cost ~6 ms of
CPU per model call at 32 concurrent calls, aiohttp's C-accelerated client ~0.4 ms, and
the model calls are the hot path of every batch (docs/benchmarks.md §7).

Scope: whole-body requests and responses (the OpenAI-compatible JSON calls), HTTP/1.1.
The response body is read completely before the ``httpx.Response`` is returned; decoding
(gzip, charset) stays with httpx, so aiohttp's own decompression is off. Proxies from the
environment stay httpx's business: the client mounts its own proxy transports for the URLs
they cover, so this transport only sees direct requests (aiohttp's ``trust_env`` is off).
TLS verification uses the system CA store.

Timeouts map from ``httpx.Timeout``: ``pool`` + ``connect`` bound getting a connection,
``connect`` the TCP/TLS connect, ``read`` each socket read. aiohttp has no write timeout;
a request body of a few MB is written to the socket buffer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import aiohttp
import httpx

# Request headers aiohttp derives itself from the URL and the body.
_SKIP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _timeout(extensions: dict[str, Any]) -> aiohttp.ClientTimeout:
    t = extensions.get("timeout") or {}
    connect, pool = t.get("connect"), t.get("pool")
    acquire = None if connect is None and pool is None else (connect or 0) + (pool or 0)
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=t.get("read"))


def _translate(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception a httpx transport would have raised for the same failure."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.SocketTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return httpx.ReadError(message, request=request)
    return httpx.NetworkError(message, request=request)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session per event loop, created on first use inside that loop."""

    def __init__(self, *, max_connections: int, keepalive_expiry: float,
                 verify: bool | ssl.SSLContext = True) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl: bool | ssl.SSLContext = verify if isinstance(verify, ssl.SSLContext) else bool(verify)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0,
                                             keepalive_timeout=self._keepalive_expiry, ssl=self._ssl)
            session = aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False,
                                            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"))
            self._sessions[loop] = session
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _SKIP_HEADERS]
        try:
            async with self._session().request(
                request.method, str(request.url), data=body or None, headers=headers, allow_redirects=False,
                timeout=_timeout(request.extensions), compress=None,
            ) as answer:
                content = await answer.read()
                status, reason, raw_headers = answer.status, answer.reason or "", answer.raw_headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _translate(exc, request) from exc
        return httpx.Response(status, headers=list(raw_headers), content=content, request=request,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode("latin-1")})

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        for owner, session in list(self._sessions.items()):
            if owner is loop or owner.is_closed():
                with contextlib.suppress(Exception):
                    await session.close()
                del self._sessions[owner]
