"""Ground truths (issue 5): uploaded once, owner-scoped, stored in blob storage, versioned.

A ground truth is an array of records (or ``{"items": [...]}``), each naming its image in
``file`` (matched to batch items by basename) with the fields at top level. Blobs are never
overwritten: a PUT writes a new version and the index entry points at it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from application.ports.artifact_index import ArtifactIndex, IndexEntry, IndexPage
from application.ports.blobs import BlobStore
from domain.auth import Principal, can_see
from domain.errors import ArtifactExistsError, DomainError, NotFoundError, ValidationFailedError
from domain.ids import check_id, day_of, format_ts, new_id, utc_now

KIND = "ground_truth"
MAX_RECORDS = 100_000


def _invalid(path: str, message: str) -> ValidationFailedError:
    return ValidationFailedError("the ground truth failed validation",
                                 details={"errors": [{"path": path, "message": message}]})


def normalise_records(raw: Any) -> list[dict[str, Any]]:
    """Accept an array of records or ``{"items": [...]}``; every record needs a ``file``."""
    base = "$"
    if isinstance(raw, dict) and "items" in raw:
        raw, base = raw["items"], "$.items"
    if not isinstance(raw, list) or not raw:
        raise _invalid(base, "Expected a non-empty array of records (or {\"items\": [...]})")
    if len(raw) > MAX_RECORDS:
        raise _invalid(base, f"at most {MAX_RECORDS} records")
    seen: dict[str, int] = {}
    for index, record in enumerate(raw):
        at = f"{base}[{index}]"
        if not isinstance(record, dict):
            raise _invalid(at, "Expected an object with `file` and the fields at top level")
        file = record.get("file")
        if not isinstance(file, str) or not file.strip():
            raise _invalid(f"{at}.file", "Expected a non-empty `str` naming the image")
        name = basename(file)
        if name in seen:
            raise _invalid(f"{at}.file", f"duplicate file basename (also at index {seen[name]})")
        seen[name] = index
    return raw


def basename(file: str) -> str:
    return posixpath.basename(file.replace("\\", "/"))


class GroundTruthStore:
    def __init__(self, *, blobs: BlobStore, index: ArtifactIndex, clock: Callable[[], datetime] = utc_now) -> None:
        self._blobs = blobs
        self._index = index
        self._clock = clock

    async def create(self, raw: Any, principal: Principal, *, gt_id: str | None = None,
                     name: str | None = None) -> dict[str, Any]:
        records = normalise_records(raw)
        gt_id = check_id(gt_id, "gt_id") if gt_id else new_id()
        if await self._index.get(KIND, gt_id) is not None:
            raise ArtifactExistsError(f"a ground truth {gt_id} already exists")
        now = self._clock()
        rel = self._rel(gt_id, now, 1)
        meta = {"name": name, "version": 1, "current_rel": rel, "rels": [rel], "records": len(records),
                "updated_at": format_ts(now)}
        await self._blobs.put(rel, msgspec.json.encode({"gt_id": gt_id, "items": records}))
        await self._index.add(IndexEntry(kind=KIND, artifact_id=gt_id, owner_key_id=principal.key_id,
                                         day=day_of(now), rel_ref=rel, created_at=now, summary=meta))
        return self._describe(gt_id, now, meta)

    async def get(self, gt_id: str, principal: Principal) -> dict[str, Any]:
        entry = await self._entry(gt_id, principal)
        meta = entry.summary or {}
        body = msgspec.json.decode(await self._blobs.get(meta.get("current_rel", entry.rel_ref)))
        return {**self._describe(gt_id, entry.created_at, meta), "items": body["items"]}

    async def records(self, gt_id: str, principal: Principal) -> list[dict[str, Any]]:
        return (await self.get(gt_id, principal))["items"]

    async def replace(self, gt_id: str, raw: Any, principal: Principal) -> dict[str, Any]:
        records = normalise_records(raw)
        entry = await self._entry(gt_id, principal)
        meta = dict(entry.summary or {})
        now = self._clock()
        version = int(meta.get("version", 1)) + 1
        rel = self._rel(gt_id, now, version)
        await self._blobs.put(rel, msgspec.json.encode({"gt_id": gt_id, "items": records}))
        meta.update(version=version, current_rel=rel, rels=[*meta.get("rels", [entry.rel_ref]), rel],
                    records=len(records), updated_at=format_ts(now))
        await self._index.update_summary(KIND, gt_id, meta)
        return self._describe(gt_id, entry.created_at, meta)

    async def delete(self, gt_id: str, principal: Principal) -> None:
        entry = await self._entry(gt_id, principal)
        await self._index.delete(KIND, gt_id)
        for rel in (entry.summary or {}).get("rels", [entry.rel_ref]):
            try:
                await self._blobs.delete(rel)
            except DomainError:
                continue  # the index no longer names it; a leftover blob is harmless

    async def page(self, principal: Principal, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        owner = None if principal.sees_everything() else principal.key_id
        page: IndexPage = await self._index.page(KIND, owner_key_id=owner, limit=limit, cursor=cursor)
        return [self._describe(e.artifact_id, e.created_at, e.summary or {}) for e in page.items], page.next_cursor

    async def _entry(self, gt_id: str, principal: Principal) -> IndexEntry:
        check_id(gt_id, "gt_id")
        entry = await self._index.get(KIND, gt_id)
        if entry is None or not can_see(principal, entry.owner_key_id):
            raise NotFoundError(f"no ground truth {gt_id}")
        return entry

    @staticmethod
    def _rel(gt_id: str, at: datetime, version: int) -> str:
        return f"ground_truths/{day_of(at)}/{gt_id}.v{version}.json"

    @staticmethod
    def _describe(gt_id: str, created_at: datetime, meta: dict[str, Any]) -> dict[str, Any]:
        return {"gt_id": gt_id, "name": meta.get("name"), "created_at": format_ts(created_at),
                "updated_at": meta.get("updated_at"), "version": meta.get("version", 1),
                "record_count": meta.get("records", 0)}
