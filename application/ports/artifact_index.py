"""Artifact index port (SPEC §6.5): lookups and run paging without scanning storage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import msgspec


class IndexEntry(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    artifact_id: str
    owner_key_id: str
    day: str
    rel_ref: str
    created_at: datetime
    summary: dict[str, Any] | None = None


class IndexPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[IndexEntry]
    next_cursor: str | None


class ArtifactIndex(Protocol):
    """Errors: ``ArtifactExistsError`` when (kind, artifact_id) is already indexed,
    ``InvalidInputError`` for a malformed cursor, ``StorageUnavailableError``."""

    async def add(self, entry: IndexEntry) -> None: ...

    async def get(self, kind: str, artifact_id: str) -> IndexEntry | None: ...

    async def update_summary(self, kind: str, artifact_id: str, summary: dict[str, Any]) -> None: ...

    async def delete(self, kind: str, artifact_id: str) -> None:
        """Forget an entry; ``NotFoundError`` when there is none."""
        ...

    async def page(
        self,
        kind: str,
        *,
        owner_key_id: str | None,
        limit: int,
        cursor: str | None = None,
        day: str | None = None,
    ) -> IndexPage:
        """Newest first; ``owner_key_id=None`` lists every owner."""
        ...

    async def ping(self) -> None: ...
