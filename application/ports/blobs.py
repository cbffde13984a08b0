"""Blob storage port (SPEC §6.5). Keys are relative (``extracts/2026-01-01/x.json``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

import msgspec


class BlobInfo(msgspec.Struct, frozen=True, kw_only=True):
    rel: str
    size: int
    created_at: datetime


class BlobStore(Protocol):
    """Errors: ``ArtifactExistsError`` when a key exists and overwrite is off,
    ``NotFoundError`` for a missing key, ``StorageUnavailableError`` when the
    backend cannot be reached after retries, ``InvalidInputError`` for a bad key."""

    async def put(self, rel: str, data: bytes, *, content_type: str = "application/json") -> None:
        """Write atomically; refuses to replace an existing key unless the store allows overwrite."""
        ...

    async def put_stream(
        self, rel: str, chunks: AsyncIterator[bytes], *, content_type: str = "application/octet-stream"
    ) -> int:
        """Write a stream without holding it whole in memory; returns the byte count."""
        ...

    async def get(self, rel: str) -> bytes: ...

    async def exists(self, rel: str) -> bool: ...

    async def list(self, prefix: str, *, limit: int | None = None) -> list[BlobInfo]:
        """Keys under ``prefix`` sorted by key."""
        ...

    async def delete(self, rel: str) -> None:
        """Remove a key; missing keys are not an error."""
        ...

    async def ping(self) -> None:
        """Readiness probe; raises ``StorageUnavailableError``."""
        ...
