"""In-memory ApiKeyStore and ArtifactIndex: real implementations that pass the same
contract suites as the SQL stores (tests/contracts), for use-case and HTTP API tests."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import msgspec

from adapters.store.cursor import decode_cursor
from application.ports.api_keys import ApiKeyRecord
from application.ports.artifact_index import COMPLETE, PENDING, IndexEntry, IndexPage
from domain.errors import (
    ArtifactExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to the store; pass a timezone-aware UTC value")
    return value.astimezone(UTC)


class _Switchable:
    """``available = False`` makes every call fail like a database that is down."""

    available = True

    def _check(self) -> None:
        if not self.available:
            raise StorageUnavailableError("the database is unavailable", retryable=True)


class InMemoryApiKeyStore(_Switchable):
    def __init__(self) -> None:
        self._by_key_id: dict[str, ApiKeyRecord] = {}
        self._next_id = 1

    async def create(
        self,
        *,
        key_id: str,
        key_hash: str,
        role: str,
        scopes: tuple[str, ...],
        created_at: datetime,
    ) -> ApiKeyRecord:
        self._check()
        if key_id in self._by_key_id:
            raise ConflictError(
                f"API key {key_id!r} already exists", details={"field": "key_id", "key_id": key_id}
            )
        if any(r.key_hash == key_hash for r in self._by_key_id.values()):
            raise ConflictError(
                "an API key with the same hash already exists", details={"field": "key_hash"}
            )
        record = ApiKeyRecord(
            api_key_id=self._next_id,
            key_id=key_id,
            key_hash=key_hash,
            role=role,
            scopes=tuple(scopes),
            is_active=True,
            created_at=_utc(created_at),
        )
        self._next_id += 1
        self._by_key_id[key_id] = record
        return record

    async def find_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        self._check()
        return next((r for r in self._by_key_id.values() if r.key_hash == key_hash), None)

    async def revoke(self, key_id: str, *, at: datetime) -> ApiKeyRecord:
        record = self._get(key_id)
        revoked = msgspec.structs.replace(
            record, is_active=False, revoked_at=record.revoked_at or _utc(at)
        )
        self._by_key_id[key_id] = revoked
        return revoked

    async def list(self) -> list[ApiKeyRecord]:
        self._check()
        return [self._by_key_id[k] for k in sorted(self._by_key_id)]

    async def touch(self, key_id: str, *, at: datetime) -> None:
        record = self._get(key_id)
        at = _utc(at)
        if record.last_used_at is None or record.last_used_at < at:
            self._by_key_id[key_id] = msgspec.structs.replace(record, last_used_at=at)

    async def ping(self) -> None:
        self._check()

    def _get(self, key_id: str) -> ApiKeyRecord:
        self._check()
        try:
            return self._by_key_id[key_id]
        except KeyError:
            raise NotFoundError(
                f"API key {key_id!r} not found", details={"key_id": key_id}
            ) from None


class InMemoryArtifactIndex(_Switchable):
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], IndexEntry] = {}

    async def add(self, entry: IndexEntry) -> None:
        self._insert(entry, COMPLETE)

    async def claim(self, entry: IndexEntry) -> IndexEntry | None:
        self._check()
        held = self._entries.get((entry.kind, entry.artifact_id))
        if held is not None:
            return _detached(held)
        self._insert(entry, PENDING)
        return None

    def _insert(self, entry: IndexEntry, state: str) -> None:
        self._check()
        key = (entry.kind, entry.artifact_id)
        if key in self._entries:
            raise ArtifactExistsError(
                f"{entry.kind} {entry.artifact_id!r} already exists",
                details={"kind": entry.kind, "artifact_id": entry.artifact_id},
            )
        summary = None if entry.summary is None else _copy(entry.summary)
        claimed_at = _utc(entry.claimed_at or entry.created_at) if state == PENDING else None
        self._entries[key] = msgspec.structs.replace(
            entry, created_at=_utc(entry.created_at), summary=summary, state=state, claimed_at=claimed_at
        )

    async def complete(self, kind: str, artifact_id: str, summary: dict[str, Any] | None = None) -> None:
        self._check()
        entry = self._entries.get((kind, artifact_id))
        if entry is None:
            raise NotFoundError(f"{kind} {artifact_id!r} not found", details={"kind": kind, "artifact_id": artifact_id})
        self._entries[(kind, artifact_id)] = msgspec.structs.replace(
            entry, state=COMPLETE, claimed_at=None, summary=entry.summary if summary is None else _copy(summary))

    async def release(self, kind: str, artifact_id: str) -> None:
        self._check()
        entry = self._entries.get((kind, artifact_id))
        if entry is not None and entry.state == PENDING:
            del self._entries[(kind, artifact_id)]

    async def refresh_claims(self, kind: str, artifact_ids: list[str], at: datetime) -> None:
        self._check()
        for artifact_id in artifact_ids:
            entry = self._entries.get((kind, artifact_id))
            if entry is not None and entry.state == PENDING:
                self._entries[(kind, artifact_id)] = msgspec.structs.replace(entry, claimed_at=_utc(at))

    async def get(self, kind: str, artifact_id: str) -> IndexEntry | None:
        self._check()
        entry = self._entries.get((kind, artifact_id))
        return None if entry is None else _detached(entry)

    async def delete(self, kind: str, artifact_id: str) -> None:
        self._check()
        if self._entries.pop((kind, artifact_id), None) is None:
            raise NotFoundError(f"{kind} {artifact_id!r} not found",
                                details={"kind": kind, "artifact_id": artifact_id})

    async def update_summary(self, kind: str, artifact_id: str, summary: dict[str, Any]) -> None:
        self._check()
        entry = self._entries.get((kind, artifact_id))
        if entry is None:
            raise NotFoundError(
                f"{kind} {artifact_id!r} not found",
                details={"kind": kind, "artifact_id": artifact_id},
            )
        self._entries[(kind, artifact_id)] = msgspec.structs.replace(entry, summary=_copy(summary))

    async def page(
        self,
        kind: str,
        *,
        owner_key_id: str | None,
        limit: int,
        cursor: str | None = None,
        day: str | None = None,
    ) -> IndexPage:
        self._check()
        if limit < 1:
            raise InvalidInputError("limit must be at least 1", details={"field": "limit"})
        after = None if cursor is None else _decode_cursor(cursor)
        matching = sorted(
            (
                e
                for e in self._entries.values()
                if e.kind == kind
                and e.state == COMPLETE
                and (owner_key_id is None or e.owner_key_id == owner_key_id)
                and (day is None or e.day == day)
                and (after is None or (e.created_at, e.artifact_id) < after)
            ),
            key=lambda e: (e.created_at, e.artifact_id),
            reverse=True,
        )
        items = [_detached(e) for e in matching[:limit]]
        next_cursor = _encode_cursor(items[-1]) if len(matching) > limit else None
        return IndexPage(items=items, next_cursor=next_cursor)

    async def ping(self) -> None:
        self._check()


def _copy(summary: dict[str, Any]) -> dict[str, Any]:
    # Stored summaries are JSON in the SQL stores; copying through JSON keeps the same
    # semantics (no aliasing, only JSON types survive).
    return json.loads(json.dumps(summary))


def _detached(entry: IndexEntry) -> IndexEntry:
    return (
        entry
        if entry.summary is None
        else msgspec.structs.replace(entry, summary=_copy(entry.summary))
    )


def _encode_cursor(entry: IndexEntry) -> str:
    raw = json.dumps([entry.created_at.isoformat(), entry.artifact_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    created_at, artifact_id = decode_cursor(cursor)  # the stores' own codec: the same refusals
    return created_at.astimezone(UTC), artifact_id


class InMemoryInputUsage(_Switchable):
    def __init__(self) -> None:
        self._bytes: dict[str, int] = {}

    async def add(self, owner_key_id: str, size: int, *, limit: int) -> bool:
        self._check()
        total = self._bytes.get(owner_key_id, 0) + size
        if total > limit:
            return False
        self._bytes[owner_key_id] = total
        return True

    async def subtract(self, owner_key_id: str, size: int) -> None:
        self._check()
        if owner_key_id in self._bytes:
            self._bytes[owner_key_id] = max(self._bytes[owner_key_id] - size, 0)

    async def total(self, owner_key_id: str) -> int:
        self._check()
        return self._bytes.get(owner_key_id, 0)
