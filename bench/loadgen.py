"""A bounded closed-loop load generator: ``concurrency`` workers, ``total`` requests, a time cap.

Two clients behind one interface:

* ``raw`` (default) — a minimal asyncio HTTP/1.1 keep-alive client writing pre-rendered
  request bytes. On a 2-core machine the load generator competes with the server for CPU;
  this client costs a fraction of httpx's CPU per request, so more of the machine is left
  to the server under test.
* ``httpx`` — ``httpx.AsyncClient``, for comparison.

Every loop is bounded by count (``total``) and by time (``max_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Reply:
    index: int
    status: int  # 0 = transport error
    latency_s: float
    body: bytes
    error: str | None = None


@dataclass
class LoadResult:
    replies: list[Reply] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> list[Reply]:
        return [r for r in self.replies if 200 <= r.status < 300]

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.replies:
            key = str(r.status) if r.status else f"error:{r.error}"
            counts[key] = counts.get(key, 0) + 1
        return counts


def render(host: str, port: int, request: Request) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {host}:{port}",
             f"Content-Length: {len(request.body)}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server wants close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length") or 0))
    return status, body, headers.get("connection", "").lower() == "close"


class _Budget:
    def __init__(self, total: int, max_seconds: float) -> None:
        self._next = itertools.count()
        self.total = total
        self.deadline = time.monotonic() + max_seconds
        self.timed_out = False

    def take(self) -> int | None:
        if time.monotonic() >= self.deadline:
            self.timed_out = True
            return None
        i = next(self._next)
        return i if i < self.total else None


async def _raw_worker(host: str, port: int, request_for: Callable[[int], Request],
                      budget: _Budget, out: list[Reply], timeout: float) -> None:
    reader = writer = None
    try:
        while (i := budget.take()) is not None:
            data = render(host, port, request_for(i))
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
                assert reader is not None
                writer.write(data)
                status, body, close = await asyncio.wait_for(read_response(reader), timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                out.append(Reply(i, 0, time.perf_counter() - started, b"", type(exc).__name__))
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            out.append(Reply(i, status, time.perf_counter() - started, body))
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _httpx_worker(client: httpx.AsyncClient, request_for: Callable[[int], Request],
                        budget: _Budget, out: list[Reply]) -> None:
    while (i := budget.take()) is not None:
        req = request_for(i)
        started = time.perf_counter()
        try:
            r = await client.request(req.method, req.path, headers=req.headers, content=req.body)
        except httpx.HTTPError as exc:
            out.append(Reply(i, 0, time.perf_counter() - started, b"", type(exc).__name__))
            continue
        out.append(Reply(i, r.status_code, time.perf_counter() - started, r.content))


async def run(host: str, port: int, request_for: Callable[[int], Request], *, total: int,
              concurrency: int, max_seconds: float, client: str = "raw",
              timeout: float = 120.0) -> LoadResult:
    budget = _Budget(total, max_seconds)
    out: list[Reply] = []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if client == "raw":
        await asyncio.gather(*(_raw_worker(host, port, request_for, budget, out, timeout)
                               for _ in range(concurrency)))
    elif client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", limits=limits,
                                     timeout=timeout) as http:
            await asyncio.gather(*(_httpx_worker(http, request_for, budget, out)
                                   for _ in range(concurrency)))
    else:
        raise ValueError(f"unknown client {client!r}")
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out.sort(key=lambda r: r.index)
    return LoadResult(out, wall, cpu, budget.timed_out)
