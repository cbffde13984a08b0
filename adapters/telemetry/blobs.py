"""Any BlobStore, counted: operations, errors and latency per operation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from application.ports.blobs import BlobInfo, BlobStore
from application.ports.telemetry import Telemetry
from domain.errors import ArtifactExistsError, NotFoundError

T = TypeVar("T")
_EXPECTED = (ArtifactExistsError, NotFoundError)  # answers, not storage errors


class InstrumentedBlobStore:
    def __init__(self, inner: BlobStore, telemetry: Telemetry) -> None:
        self._inner = inner
        self._telemetry = telemetry

    async def _measure(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        ok = False
        try:
            result = await call()
            ok = True
            return result
        except _EXPECTED:
            ok = True
            raise
        finally:
            self._telemetry.storage_op(op, ok, time.perf_counter() - started)

    async def put(self, rel: str, data: bytes, *, content_type: str = "application/json") -> None:
        await self._measure("put", lambda: self._inner.put(rel, data, content_type=content_type))

    async def put_stream(self, rel: str, chunks: AsyncIterator[bytes], *,
                         content_type: str = "application/octet-stream") -> int:
        return await self._measure("put_stream", lambda: self._inner.put_stream(rel, chunks, content_type=content_type))

    async def get(self, rel: str) -> bytes:
        return await self._measure("get", lambda: self._inner.get(rel))

    async def exists(self, rel: str) -> bool:
        return await self._measure("exists", lambda: self._inner.exists(rel))

    async def list(self, prefix: str, *, limit: int | None = None) -> list[BlobInfo]:
        return await self._measure("list", lambda: self._inner.list(prefix, limit=limit))

    async def delete(self, rel: str) -> None:
        await self._measure("delete", lambda: self._inner.delete(rel))

    async def ping(self) -> None:
        await self._inner.ping()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
