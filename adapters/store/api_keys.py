"""``ApiKeyStore`` on SQL (SQLite or PostgreSQL): the ``api_keys`` table of SPEC §5."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.engine import immediate
from adapters.store.errors import unavailable_on_driver_error
from adapters.store.tables import api_keys
from adapters.store.timestamps import UtcDateTime, as_utc
from application.ports.api_keys import ApiKeyRecord
from domain.errors import ConflictError, NotFoundError


class SqlApiKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = immediate(engine)

    async def create(
        self,
        *,
        key_id: str,
        key_hash: str,
        role: str,
        scopes: tuple[str, ...],
        created_at: datetime,
    ) -> ApiKeyRecord:
        values = {
            "key_id": key_id,
            "key_hash": key_hash,
            "role": role,
            "scopes": list(scopes),
            "is_active": True,
            "created_at": as_utc(created_at),
        }
        try:
            async with unavailable_on_driver_error("create API key"), self._writer.begin() as conn:
                row = (
                    await conn.execute(insert(api_keys).values(values).returning(*api_keys.c))
                ).one()
        except IntegrityError as error:
            raise _conflict(error, key_id) from None
        return _record(row._mapping)

    async def find_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        query = select(api_keys).where(api_keys.c.key_hash == key_hash)
        async with unavailable_on_driver_error("find API key"), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row._mapping)

    async def revoke(self, key_id: str, *, at: datetime) -> ApiKeyRecord:
        # Revoking again keeps the first revocation time.
        statement = (
            update(api_keys)
            .where(api_keys.c.key_id == key_id)
            .values(
                is_active=False,
                revoked_at=case(
                    (api_keys.c.revoked_at.is_(None), _ts(at)), else_=api_keys.c.revoked_at
                ),
            )
            .returning(*api_keys.c)
        )
        async with unavailable_on_driver_error("revoke API key"), self._writer.begin() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            raise NotFoundError(f"API key {key_id!r} not found", details={"key_id": key_id})
        return _record(row._mapping)

    async def list(self) -> list[ApiKeyRecord]:
        query = select(api_keys).order_by(api_keys.c.key_id)
        async with unavailable_on_driver_error("list API keys"), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row._mapping) for row in rows]

    async def touch(self, key_id: str, *, at: datetime) -> None:
        at = _ts(at)
        # Concurrent touches may arrive out of order; last_used_at never moves backwards.
        statement = (
            update(api_keys)
            .where(api_keys.c.key_id == key_id)
            .values(
                last_used_at=case(
                    (api_keys.c.last_used_at.is_(None), at),
                    (api_keys.c.last_used_at < at, at),
                    else_=api_keys.c.last_used_at,
                )
            )
        )
        async with unavailable_on_driver_error("touch API key"), self._writer.begin() as conn:
            matched = (await conn.execute(statement)).rowcount
        if matched == 0:
            raise NotFoundError(f"API key {key_id!r} not found", details={"key_id": key_id})

    async def ping(self) -> None:
        async with unavailable_on_driver_error("auth store"), self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def _ts(value: datetime) -> Any:
    return literal(as_utc(value), type_=UtcDateTime())


def _conflict(error: IntegrityError, key_id: str) -> ConflictError:
    if "key_hash" in str(error.orig):
        return ConflictError(
            "an API key with the same hash already exists", details={"field": "key_hash"}
        )
    return ConflictError(
        f"API key {key_id!r} already exists", details={"field": "key_id", "key_id": key_id}
    )


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        api_key_id=row["api_key_id"],
        key_id=row["key_id"],
        key_hash=row["key_hash"],
        role=row["role"],
        scopes=tuple(row["scopes"]),
        is_active=bool(row["is_active"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
