"""``ArtifactIndex`` on SQL: lookups, claims (ADR 0042) and newest-first keyset paging over
``artifact_index``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.cursor import decode_cursor, encode_cursor
from adapters.store.engine import immediate
from adapters.store.errors import unavailable_on_driver_error
from adapters.store.tables import artifact_index as t
from adapters.store.timestamps import UtcDateTime, as_utc
from application.ports.artifact_index import COMPLETE, PENDING, IndexEntry, IndexPage
from domain.errors import ArtifactExistsError, InvalidInputError, NotFoundError

# Built once: the per-request statements then reuse SQLAlchemy's memoised cache key and
# compiled form instead of being rebuilt (and re-keyed) on every call. Same SQL as before.
_INSERT = insert(t)
_GET = select(t).where(t.c.kind == bindparam("kind"), t.c.artifact_id == bindparam("artifact_id"))


class SqlArtifactIndex:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = immediate(engine)

    async def add(self, entry: IndexEntry) -> None:
        await self._insert(_values(entry, COMPLETE), "index artifact")

    async def claim(self, entry: IndexEntry) -> IndexEntry | None:
        while True:
            try:
                await self._insert(_values(entry, PENDING), "claim artifact")
                return None
            except ArtifactExistsError:
                held = await self.get(entry.kind, entry.artifact_id)
            if held is not None:
                return held
            # Released between our insert and our read: try again.

    async def _insert(self, values: dict[str, Any], what: str) -> None:
        try:
            async with unavailable_on_driver_error(what), self._writer.begin() as conn:
                await conn.execute(_INSERT, values)
        except IntegrityError:
            raise ArtifactExistsError(
                f"{values['kind']} {values['artifact_id']!r} already exists",
                details={"kind": values["kind"], "artifact_id": values["artifact_id"]},
            ) from None

    async def complete(self, kind: str, artifact_id: str, summary: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {"state": COMPLETE, "claimed_at": None}
        if summary is not None:
            values["summary_json"] = summary
        statement = update(t).where(t.c.kind == kind, t.c.artifact_id == artifact_id).values(values)
        async with unavailable_on_driver_error("complete artifact"), self._writer.begin() as conn:
            matched = (await conn.execute(statement)).rowcount
        if matched == 0:
            raise NotFoundError(f"{kind} {artifact_id!r} not found", details={"kind": kind, "artifact_id": artifact_id})

    async def release(self, kind: str, artifact_id: str) -> None:
        statement = delete(t).where(t.c.kind == kind, t.c.artifact_id == artifact_id, t.c.state == PENDING)
        async with unavailable_on_driver_error("release claim"), self._writer.begin() as conn:
            await conn.execute(statement)

    async def refresh_claims(self, kind: str, artifact_ids: list[str], at: datetime) -> None:
        if not artifact_ids:
            return
        statement = (
            update(t)
            .where(t.c.kind == kind, t.c.artifact_id.in_(artifact_ids), t.c.state == PENDING)
            .values(claimed_at=as_utc(at))
        )
        async with unavailable_on_driver_error("refresh claims"), self._writer.begin() as conn:
            await conn.execute(statement)

    async def get(self, kind: str, artifact_id: str) -> IndexEntry | None:
        params = {"kind": kind, "artifact_id": artifact_id}
        async with unavailable_on_driver_error("artifact lookup"), self._engine.connect() as conn:
            row = (await conn.execute(_GET, params)).first()
        return None if row is None else _entry(row._mapping)

    async def delete(self, kind: str, artifact_id: str) -> None:
        statement = delete(t).where(t.c.kind == kind, t.c.artifact_id == artifact_id)
        async with unavailable_on_driver_error("delete artifact entry"), self._writer.begin() as conn:
            removed = (await conn.execute(statement)).rowcount
        if removed == 0:
            raise NotFoundError(f"{kind} {artifact_id!r} not found", details={"kind": kind, "artifact_id": artifact_id})

    async def update_summary(self, kind: str, artifact_id: str, summary: dict[str, Any]) -> None:
        statement = (
            update(t)
            .where(t.c.kind == kind, t.c.artifact_id == artifact_id)
            .values(summary_json=summary)
        )
        async with (
            unavailable_on_driver_error("update artifact summary"),
            self._writer.begin() as conn,
        ):
            matched = (await conn.execute(statement)).rowcount
        if matched == 0:
            raise NotFoundError(
                f"{kind} {artifact_id!r} not found",
                details={"kind": kind, "artifact_id": artifact_id},
            )

    async def page(
        self,
        kind: str,
        *,
        owner_key_id: str | None,
        limit: int,
        cursor: str | None = None,
        day: str | None = None,
    ) -> IndexPage:
        if limit < 1:
            raise InvalidInputError("limit must be at least 1", details={"field": "limit"})
        query = select(t).where(t.c.kind == kind, t.c.state == COMPLETE)
        if owner_key_id is not None:
            query = query.where(t.c.owner_key_id == owner_key_id)
        if day is not None:
            query = query.where(t.c.day == day)
        if cursor is not None:
            after_at, after_id = decode_cursor(cursor)
            after = literal(after_at, type_=UtcDateTime())
            query = query.where(
                or_(
                    t.c.created_at < after,
                    and_(t.c.created_at == after, t.c.artifact_id < after_id),
                )
            )
        # One row more than asked tells whether another page exists.
        query = query.order_by(t.c.created_at.desc(), t.c.artifact_id.desc()).limit(limit + 1)
        async with unavailable_on_driver_error("artifact paging"), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_entry(row._mapping) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.created_at, last.artifact_id)
        return IndexPage(items=items, next_cursor=next_cursor)

    async def ping(self) -> None:
        async with unavailable_on_driver_error("artifact index"), self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def _entry(row: Any) -> IndexEntry:
    return IndexEntry(
        kind=row["kind"],
        artifact_id=row["artifact_id"],
        owner_key_id=row["owner_key_id"],
        day=row["day"],
        rel_ref=row["rel_ref"],
        created_at=row["created_at"],
        summary=row["summary_json"],
        state=row["state"],
        claimed_at=row["claimed_at"],
    )


def _values(entry: IndexEntry, state: str) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "artifact_id": entry.artifact_id,
        "owner_key_id": entry.owner_key_id,
        "day": entry.day,
        "rel_ref": entry.rel_ref,
        "created_at": as_utc(entry.created_at),
        "summary_json": entry.summary,
        "state": state,
        "claimed_at": as_utc(entry.claimed_at or entry.created_at) if state == PENDING else None,
    }


class RareMethodsOnSql:
    """The index methods a faster adapter leaves to ``SqlArtifactIndex`` on the same engine:
    releases, claim refreshes, summary updates, deletes, paging and ``ping`` are rare, so only
    the per-request claims, completions and lookups bypass SQLAlchemy (ADR 0007, ADR 0043)."""

    _fallback: SqlArtifactIndex

    async def release(self, kind: str, artifact_id: str) -> None:
        await self._fallback.release(kind, artifact_id)

    async def refresh_claims(self, kind: str, artifact_ids: list[str], at: datetime) -> None:
        await self._fallback.refresh_claims(kind, artifact_ids, at)

    async def update_summary(self, kind: str, artifact_id: str, summary: dict[str, Any]) -> None:
        await self._fallback.update_summary(kind, artifact_id, summary)

    async def delete(self, kind: str, artifact_id: str) -> None:
        await self._fallback.delete(kind, artifact_id)

    async def page(self, kind: str, *, owner_key_id: str | None, limit: int, cursor: str | None = None,
                   day: str | None = None) -> IndexPage:
        return await self._fallback.page(kind, owner_key_id=owner_key_id, limit=limit, cursor=cursor, day=day)

    async def ping(self) -> None:
        await self._fallback.ping()
