"""Artifact index port (SPEC §6.5): lookups and run paging without scanning storage, and the
claim that makes an id's artifact one idempotent step (ADR 0042)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import msgspec

PENDING = "pending"  # claimed before the work; its artifact may not be written yet
COMPLETE = "complete"  # the artifact is written


class IndexEntry(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    artifact_id: str
    owner_key_id: str
    day: str
    rel_ref: str
    created_at: datetime
    summary: dict[str, Any] | None = None
    state: str = COMPLETE
    claimed_at: datetime | None = None  # a pending claim's last sign of life

    @property
    def pending(self) -> bool:
        return self.state == PENDING


class IndexPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[IndexEntry]
    next_cursor: str | None


class ArtifactIndex(Protocol):
    """Errors: ``ArtifactExistsError`` when (kind, artifact_id) is already indexed,
    ``InvalidInputError`` for a malformed cursor, ``StorageUnavailableError``.

    ``get`` sees pending claims too (``state``); ``page`` lists complete entries only."""

    async def add(self, entry: IndexEntry) -> None:
        """Index a written artifact (complete)."""
        ...

    async def claim(self, entry: IndexEntry) -> IndexEntry | None:
        """Take ``(kind, artifact_id)`` before its artifact is written: insert ``entry`` as a
        pending claim (``claimed_at`` = its ``created_at``) and return None, or return the
        entry that already holds the id (pending or complete) and write nothing."""
        ...

    async def complete(self, kind: str, artifact_id: str, summary: dict[str, Any] | None = None) -> None:
        """Mark a claim complete (its artifact is written). Completing a complete entry again is
        a no-op (a retried call); ``NotFoundError`` when there is no entry."""
        ...

    async def release(self, kind: str, artifact_id: str) -> None:
        """Drop a pending claim whose artifact was not written; a complete or missing entry
        is left as it is."""
        ...

    async def refresh_claims(self, kind: str, artifact_ids: list[str], at: datetime) -> None:
        """Set ``claimed_at`` of these pending claims: their work is still in progress."""
        ...

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
        """Newest first; ``owner_key_id=None`` lists every owner. Complete entries only."""
        ...

    async def ping(self) -> None: ...
