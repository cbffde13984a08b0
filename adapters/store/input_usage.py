"""``InputUsage`` on SQL (SQLite or PostgreSQL): one row per owner, moved by single statements
(an upsert whose update only happens under the limit), so concurrent writers never pass it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.engine import immediate
from adapters.store.errors import unavailable_on_driver_error
from adapters.store.tables import input_usage as t


class SqlInputUsage:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = immediate(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def add(self, owner_key_id: str, size: int, *, limit: int) -> bool:
        if size > limit:
            return False
        now = datetime.now(UTC)
        statement = (
            self._insert(t)
            .values(owner_key_id=owner_key_id, bytes=size, updated_at=now)
            .on_conflict_do_update(index_elements=[t.c.owner_key_id],
                                   set_={"bytes": t.c.bytes + size, "updated_at": now},
                                   where=t.c.bytes + size <= limit)
            .returning(t.c.bytes)
        )
        async with unavailable_on_driver_error("input usage"), self._writer.begin() as conn:
            return (await conn.execute(statement)).first() is not None

    async def subtract(self, owner_key_id: str, size: int) -> None:
        statement = (
            update(t).where(t.c.owner_key_id == owner_key_id)
            .values(bytes=func.max(t.c.bytes - size, 0) if self._engine.dialect.name == "sqlite"
                    else func.greatest(t.c.bytes - size, 0), updated_at=datetime.now(UTC))
        )
        async with unavailable_on_driver_error("input usage"), self._writer.begin() as conn:
            await conn.execute(statement)

    async def total(self, owner_key_id: str) -> int:
        async with unavailable_on_driver_error("input usage"), self._engine.connect() as conn:
            value = (await conn.execute(select(t.c.bytes).where(t.c.owner_key_id == owner_key_id))).scalar()
        return int(value or 0)
