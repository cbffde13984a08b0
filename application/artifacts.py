"""Reading stored artifacts: owner-scoped through the index, never by scanning storage."""

from __future__ import annotations

from typing import Any

import msgspec

from application.ports.artifact_index import ArtifactIndex, IndexEntry, IndexPage
from application.ports.blobs import BlobStore
from domain.artifacts import ArtifactKind
from domain.auth import Principal, can_see
from domain.days import check_day
from domain.errors import NotFoundError
from domain.ids import check_id, format_ts


class ArtifactReader:
    def __init__(self, *, blobs: BlobStore, index: ArtifactIndex) -> None:
        self._blobs = blobs
        self._index = index

    async def read(self, kind: ArtifactKind, artifact_id: str, principal: Principal) -> dict[str, Any]:
        check_id(artifact_id, f"{kind.value}_id")
        entry = await self._index.get(kind, artifact_id)
        if entry is None or not can_see(principal, entry.owner_key_id):
            raise NotFoundError(f"no {kind.value} artifact with id {artifact_id}")
        try:
            data = await self._blobs.get(entry.rel_ref)
        except NotFoundError:
            if entry.pending:  # claimed, still in progress (or its holder died): nothing stored yet
                raise NotFoundError(f"no {kind.value} artifact with id {artifact_id}") from None
            raise NotFoundError(f"the {kind.value} artifact {artifact_id} is indexed but missing from storage") from None
        # A pending entry whose artifact is stored: its write's last step failed. It is served;
        # completing it is left to a retry of the same request, which then gets this answer.
        return msgspec.json.decode(data)

    async def summary(self, kind: ArtifactKind, artifact_id: str) -> dict[str, Any] | None:
        entry = await self._index.get(kind, artifact_id)
        return entry.summary if entry else None

    async def read_extract(self, request_id: str, principal: Principal, *, include_raw: bool) -> dict[str, Any]:
        artifact = await self.read(ArtifactKind.EXTRACT, request_id, principal)
        if not include_raw:
            artifact["raw"] = None
        return artifact

    async def page(self, kind: ArtifactKind, principal: Principal, *, limit: int,
                   cursor: str | None) -> IndexPage:
        owner = None if principal.sees_everything() else principal.key_id
        return await self._index.page(kind, owner_key_id=owner, limit=limit, cursor=cursor)

    async def list_extracts(self, day: str, limit: int) -> list[dict[str, Any]]:
        """Extract artifacts stored on ``day`` (YYYY-MM-DD, else 400), with their real creation times."""
        check_day(day, "date")
        infos = await self._blobs.list(f"extracts/{day}/", limit=limit)
        return [
            {
                "request_id": info.rel.rsplit("/", 1)[-1].removesuffix(".json"),
                "artifact_rel": info.rel,
                "size": info.size,
                "created_at": format_ts(info.created_at),
            }
            for info in infos
        ]


def visible_run(entry: IndexEntry | None, principal: Principal, batch_date: str | None) -> bool:
    """Is this run there for this caller (and on ``batch_date``, when given)? Another owner's run
    answers exactly like a missing one, whatever its day."""
    return (entry is not None and can_see(principal, entry.owner_key_id)
            and (batch_date is None or entry.day == batch_date))
