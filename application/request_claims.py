"""One extract per request id at a time, and an artifact and its index entry written as one
idempotent step (ADR 0042).

* Within a process, calls for the same id run one after the other (``single_flight``): 32
  concurrent duplicates make one model call, and the followers then find the id taken.
* Across processes, the index entry is claimed (``pending``) before the model call and
  completed after the artifact is written. A claim whose holder is alive is refreshed every
  ``refresh_s``; one not refreshed for ``stale_s`` belongs to a holder that died.
* A pending claim whose artifact is in storage is a write whose last step failed (the index
  update, or the process died between the two): ``acquire`` hands back the stored artifact,
  and a retry of the same request completes the pair (``repair``) and answers with it,
  instead of answering 409 forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import msgspec

from application.ports.artifact_index import ArtifactIndex, IndexEntry
from application.ports.blobs import BlobStore
from domain.auth import Principal
from domain.errors import ArtifactExistsError, ConflictError, DomainError, NotFoundError
from domain.ids import utc_now

logger = logging.getLogger("ocr.extract")

T = TypeVar("T")
Io = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]

CLAIM_REFRESH_S = 10.0
CLAIM_STALE_S = 30.0


async def direct(op: Callable[[], Awaitable[T]]) -> T:
    """Storage calls without outage patience (sync requests answer 503 at once)."""
    return await op()


class Held(msgspec.Struct, frozen=True, kw_only=True):
    """What ``acquire`` got: our claim (``written`` False: do the work and write ``entry.rel_ref``)
    or the id's written artifact (``written`` True). ``unfinished``: the artifact (``stored``)
    is written but its index entry is still pending — the write's last step failed."""

    entry: IndexEntry
    written: bool = False
    unfinished: bool = False
    stored: dict[str, Any] | None = None


class RequestClaims:
    def __init__(self, *, index: ArtifactIndex, blobs: BlobStore, clock: Callable[[], datetime] = utc_now,
                 refresh_s: float = CLAIM_REFRESH_S, stale_s: float = CLAIM_STALE_S) -> None:
        self._index = index
        self._blobs = blobs
        self._clock = clock
        self._refresh_s = refresh_s
        self._stale = timedelta(seconds=stale_s)
        self._in_flight: dict[tuple[str, str], asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def single_flight(self, kind: str, artifact_id: str) -> AsyncIterator[None]:
        key = (kind, artifact_id)
        while (leader := self._in_flight.get(key)) is not None:
            await asyncio.shield(leader)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = done
        try:
            yield
        finally:
            del self._in_flight[key]
            done.set_result(None)

    async def acquire(self, entry: IndexEntry, principal: Principal, *, owned: bool, io: Io[Any] = direct) -> Held:
        """Claim ``entry``'s id. ``owned``: the caller owns this id's work whoever claimed it
        before (a job resuming its own items), so a live-looking pending claim is taken over."""
        held = await io(lambda: self._index.claim(entry))
        if held is None:
            return Held(entry=entry)
        if held.owner_key_id != principal.key_id:
            raise ArtifactExistsError(f"an artifact for request_id {entry.artifact_id} already exists")
        if not held.pending:
            return Held(entry=held, written=True)
        stored = await self._stored(held, io)
        if stored is not None:
            return Held(entry=held, written=True, unfinished=True, stored=stored)
        if owned or self._is_stale(held):
            logger.info("claim taken over", extra={"event": "claim_taken_over", "kind": held.kind,
                                                   "artifact_id": held.artifact_id, "owned": owned})
            return Held(entry=held)
        raise ConflictError(f"request_id {entry.artifact_id} is being processed; retry later",
                            details={"reason": "in_progress", "request_id": entry.artifact_id}, retryable=True)

    async def repair(self, held: Held, io: Io[Any] = direct) -> None:
        """Complete the index entry of an unfinished write (its artifact is stored)."""
        entry = held.entry
        await io(lambda: self._index.complete(entry.kind, entry.artifact_id))
        logger.warning("artifact index repaired", extra={
            "event": "index_repaired", "kind": entry.kind, "artifact_id": entry.artifact_id})

    async def _stored(self, held: IndexEntry, io: Io[Any]) -> dict[str, Any] | None:
        try:
            data = await io(lambda: self._blobs.get(held.rel_ref))
        except NotFoundError:
            return None
        return msgspec.json.decode(data)

    def _is_stale(self, held: IndexEntry) -> bool:
        seen = held.claimed_at or held.created_at
        return seen <= self._clock() - self._stale

    async def release(self, kind: str, artifact_id: str) -> None:
        """Best effort: a claim left behind is taken over once stale, or repaired."""
        try:
            await self._index.release(kind, artifact_id)
        except DomainError as exc:
            logger.warning("could not release a claim", extra={
                "event": "claim_release_failed", "kind": kind, "artifact_id": artifact_id, "error": exc.code})

    @contextlib.asynccontextmanager
    async def keep_fresh(self, kind: str, artifact_id: str) -> AsyncIterator[None]:
        """Refresh the claim every ``refresh_s`` while the work inside runs. Only work that
        lasts that long pays for it: the refresher is started by a timer, not up front."""
        loop = asyncio.get_running_loop()
        refresher: list[asyncio.Task[None]] = []

        def begin() -> None:
            refresher.append(loop.create_task(self._refresh(kind, artifact_id), name=f"claim-{artifact_id}"))

        timer = loop.call_later(self._refresh_s, begin)
        try:
            yield
        finally:
            timer.cancel()
            if refresher:
                refresher[0].cancel()
                await asyncio.gather(refresher[0], return_exceptions=True)

    async def _refresh(self, kind: str, artifact_id: str) -> None:
        while True:
            try:
                await self._index.refresh_claims(kind, [artifact_id], self._clock())
            except DomainError as exc:
                logger.warning("claim refresh failed", extra={
                    "event": "claim_refresh_failed", "artifact_id": artifact_id, "error": exc.code})
            await asyncio.sleep(self._refresh_s)
