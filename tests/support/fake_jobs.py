"""In-memory JobStore: a real implementation passing the same contract as ``SqlJobStore``
(tests/contracts/job_store_contract.py), for use-case and HTTP API tests."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

import msgspec

from application.ports.jobs import JobChange, JobControl, JobPage
from domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)
from domain.jobs import Job, JobStatus

_IMMUTABLE = (
    "job_id",
    "kind",
    "created_at",
    "owner_key_id",
    "owner_role",
    "idempotency_key",
)


class InMemoryJobStore:
    """``available = False`` makes every call fail like a database that is down."""

    available = True

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        # One writer at a time, like the row lock of the SQL store.
        self._lock = asyncio.Lock()

    async def create(self, job: Job) -> None:
        self._check()
        stored = _stored(job)
        async with self._lock:
            if job.job_id in self._jobs:
                raise ConflictError(
                    f"job {job.job_id!r} already exists",
                    details={"field": "job_id", "job_id": job.job_id},
                )
            if job.idempotency_key is not None and self._by_key(
                job.owner_key_id, job.idempotency_key
            ):
                raise ConflictError(
                    "the idempotency key already names another job",
                    code="idempotency_conflict",
                    details={"field": "idempotency_key"},
                )
            self._jobs[job.job_id] = stored

    async def get(self, job_id: str) -> Job | None:
        self._check()
        job = self._jobs.get(job_id)
        return None if job is None else _stored(job)

    async def update(self, job_id: str, change: JobChange) -> Job:
        self._check()
        async with self._lock:
            current = self._jobs.get(job_id)
            if current is None:
                raise _not_found(job_id)
            # Yield while holding the lock: concurrent updates really overlap and must queue.
            await asyncio.sleep(0)
            changed = _stored(change(_stored(current)))
            kept = {name: getattr(current, name) for name in _IMMUTABLE}
            written = msgspec.structs.replace(changed, **kept)
            self._jobs[job_id] = written
        return _stored(written)

    async def find_by_idempotency_key(self, owner_key_id: str, idempotency_key: str) -> Job | None:
        self._check()
        job = self._by_key(owner_key_id, idempotency_key)
        return None if job is None else _stored(job)

    async def release_idempotency_key(self, job_id: str) -> None:
        self._check()
        async with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise _not_found(job_id)
            self._jobs[job_id] = msgspec.structs.replace(job, idempotency_key=None)

    async def page(
        self,
        *,
        owner_key_id: str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None = None,
    ) -> JobPage:
        self._check()
        if limit < 1:
            raise InvalidInputError("limit must be at least 1", details={"field": "limit"})
        after = None if cursor is None else _decode_cursor(cursor)
        matching = sorted(
            (
                j
                for j in self._jobs.values()
                if (owner_key_id is None or j.owner_key_id == owner_key_id)
                and (status is None or j.status == status)
                and (after is None or (j.created_at, j.job_id) < after)
            ),
            key=lambda j: (j.created_at, j.job_id),
            reverse=True,
        )
        items = [_stored(j) for j in matching[:limit]]
        next_cursor = _encode_cursor(items[-1]) if len(matching) > limit else None
        return JobPage(items=items, next_cursor=next_cursor)

    async def control(self, job_id: str) -> JobControl | None:
        self._check()
        job = self._jobs.get(job_id)
        return None if job is None else JobControl(status=job.status, cancel_requested=job.cancel_requested)

    async def ids_with_status(self, status: JobStatus) -> list[str]:
        self._check()
        found = sorted((j.created_at, j.job_id) for j in self._jobs.values() if j.status == status)
        return [job_id for _, job_id in found]

    async def counts_by_status(self) -> dict[str, int]:
        self._check()
        counts: dict[str, int] = {}
        for j in self._jobs.values():
            counts[j.status.value] = counts.get(j.status.value, 0) + 1
        return counts

    async def ping(self) -> None:
        self._check()

    def _by_key(self, owner_key_id: str, idempotency_key: str) -> Job | None:
        return next(
            (
                j
                for j in self._jobs.values()
                if j.owner_key_id == owner_key_id and j.idempotency_key == idempotency_key
            ),
            None,
        )

    def _check(self) -> None:
        if not self.available:
            raise StorageUnavailableError("the database is unavailable", retryable=True)


def _not_found(job_id: str) -> NotFoundError:
    return NotFoundError(f"job {job_id!r} not found", details={"job_id": job_id})


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to the store; pass a timezone-aware UTC value")
    return value.astimezone(UTC)


def _json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    # The SQL stores keep these as JSON text: copying through JSON gives the same semantics
    # (no aliasing between caller and store, only JSON types survive).
    return None if value is None else json.loads(json.dumps(value))


def _stored(job: Job) -> Job:
    """A detached copy normalised the way the SQL store reads a row back."""
    return msgspec.structs.replace(
        job,
        status=JobStatus(job.status),
        created_at=_utc(job.created_at),
        updated_at=_utc(job.updated_at),
        started_at=_utc(job.started_at),
        finished_at=_utc(job.finished_at),
        request=_json(job.request),
        progress=_json(job.progress),
        result_meta=_json(job.result_meta),
        error=_json(job.error),
    )


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created_at = datetime.fromisoformat(created)
        if not isinstance(job_id, str) or created_at.tzinfo is None:
            raise ValueError(cursor)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise InvalidInputError("malformed cursor", details={"field": "cursor"}) from None
    return created_at.astimezone(UTC), job_id
