"""API key store port (SPEC §5): the ``api_keys`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec


class ApiKeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    api_key_id: int
    key_id: str
    key_hash: str
    role: str
    scopes: tuple[str, ...]
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyStore(Protocol):
    """Errors: ``ConflictError`` for a duplicate key_id or hash, ``NotFoundError``
    for an unknown key_id, ``StorageUnavailableError`` when the database is down."""

    async def create(
        self, *, key_id: str, key_hash: str, role: str, scopes: tuple[str, ...], created_at: datetime
    ) -> ApiKeyRecord: ...

    async def find_by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...

    async def revoke(self, key_id: str, *, at: datetime) -> ApiKeyRecord: ...

    async def list(self) -> list[ApiKeyRecord]: ...

    async def touch(self, key_id: str, *, at: datetime) -> None:
        """Record last use."""
        ...

    async def ping(self) -> None: ...
