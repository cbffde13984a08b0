"""``JobStore`` on SQL (SQLite or PostgreSQL): the ``jobs`` table of SPEC §7.

``update`` reads, lets the domain change function decide and writes in one transaction that
holds the row: ``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` (the database
write lock, see :func:`adapters.store.engine.immediate`) on SQLite. ADR 0041.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, insert, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.cursor import decode_cursor, encode_cursor
from adapters.store.engine import immediate
from adapters.store.errors import unavailable_on_driver_error
from adapters.store.tables import jobs as t
from adapters.store.timestamps import UtcDateTime, as_utc
from application.ports.jobs import JobChange, JobControl, JobPage
from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.jobs import Job, JobStatus


class SqlJobStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = immediate(engine)

    async def create(self, job: Job) -> None:
        values = {
            "job_id": job.job_id,
            "kind": job.kind,
            "created_at": as_utc(job.created_at),
            "owner_key_id": job.owner_key_id,
            "owner_role": job.owner_role,
            "request_json": job.request,
            "idempotency_key": job.idempotency_key,
            "request_sha256": job.request_sha256,
            **_mutable(job, job),
        }
        try:
            async with unavailable_on_driver_error("create job"), self._writer.begin() as conn:
                await conn.execute(insert(t).values(values))
        except IntegrityError as error:
            raise _conflict(error, job) from None

    async def get(self, job_id: str) -> Job | None:
        query = select(t).where(t.c.job_id == job_id)
        async with unavailable_on_driver_error("get job"), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _job(row._mapping)

    async def control(self, job_id: str) -> JobControl | None:
        query = select(t.c.status, t.c.cancel_requested).where(t.c.job_id == job_id)
        async with unavailable_on_driver_error("job control"), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else JobControl(status=JobStatus(row[0]), cancel_requested=bool(row[1]))

    async def update(self, job_id: str, change: JobChange) -> Job:
        # FOR UPDATE renders nothing on SQLite, where BEGIN IMMEDIATE already holds the lock.
        query = select(t).where(t.c.job_id == job_id).with_for_update()
        try:
            async with unavailable_on_driver_error("update job"), self._writer.begin() as conn:
                row = (await conn.execute(query)).first()
                if row is None:
                    raise _not_found(job_id)
                current = _job(row._mapping)
                try:
                    changed = change(current)
                except Exception as error:
                    raise _ChangeRefused(error) from None
                statement = (
                    update(t).where(t.c.job_id == job_id).values(_mutable(changed, current)).returning(*t.c)
                )
                written = (await conn.execute(statement)).one()
        except _ChangeRefused as refused:
            error = refused.error
        else:
            return _job(written._mapping)
        # Outside the handler, so the change's own error leaves exactly as it was raised.
        raise error

    async def find_by_idempotency_key(self, owner_key_id: str, idempotency_key: str) -> Job | None:
        query = select(t).where(
            t.c.owner_key_id == owner_key_id, t.c.idempotency_key == idempotency_key
        )
        async with unavailable_on_driver_error("find job"), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _job(row._mapping)

    async def release_idempotency_key(self, job_id: str) -> None:
        statement = update(t).where(t.c.job_id == job_id).values(idempotency_key=None)
        async with unavailable_on_driver_error("release key"), self._writer.begin() as conn:
            matched = (await conn.execute(statement)).rowcount
        if matched == 0:
            raise _not_found(job_id)

    async def page(
        self,
        *,
        owner_key_id: str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None = None,
    ) -> JobPage:
        if limit < 1:
            raise InvalidInputError("limit must be at least 1", details={"field": "limit"})
        query = select(t)
        if owner_key_id is not None:
            query = query.where(t.c.owner_key_id == owner_key_id)
        if status is not None:
            query = query.where(t.c.status == JobStatus(status).value)
        if cursor is not None:
            after_at, after_id = decode_cursor(cursor)
            after = literal(after_at, type_=UtcDateTime())
            query = query.where(
                or_(t.c.created_at < after, and_(t.c.created_at == after, t.c.job_id < after_id))
            )
        # One row more than asked tells whether another page exists.
        query = query.order_by(t.c.created_at.desc(), t.c.job_id.desc()).limit(limit + 1)
        async with unavailable_on_driver_error("job paging"), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_job(row._mapping) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(items[-1].created_at, items[-1].job_id)
        return JobPage(items=items, next_cursor=next_cursor)

    async def ids_with_status(self, status: JobStatus) -> list[str]:
        query = (
            select(t.c.job_id)
            .where(t.c.status == JobStatus(status).value)
            .order_by(t.c.created_at, t.c.job_id)
        )
        async with unavailable_on_driver_error("jobs by status"), self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def counts_by_status(self) -> dict[str, int]:
        query = select(t.c.status, func.count()).group_by(t.c.status)
        async with unavailable_on_driver_error("job counts"), self._engine.connect() as conn:
            return {status: int(n) for status, n in (await conn.execute(query)).all()}

    async def ping(self) -> None:
        async with unavailable_on_driver_error("job store"), self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


class _ChangeRefused(Exception):
    """Carries the change function's error out of the transaction (which then rolls back)
    past the driver-error translation, which must not reinterpret it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _mutable(job: Job, before: Job) -> dict[str, Any]:
    """The columns a change may move; identity, owner and idempotency key stay. The request
    (a batch plan can be large) and its fingerprint are written only when the change replaced
    them (an upload batch settled at the end of its body, ADR 0051)."""
    values: dict[str, Any] = {
        "status": JobStatus(job.status).value,
        "updated_at": as_utc(job.updated_at),
        "started_at": None if job.started_at is None else as_utc(job.started_at),
        "finished_at": None if job.finished_at is None else as_utc(job.finished_at),
        "cancel_requested": job.cancel_requested,
        "progress_json": job.progress,
        "result_rel": job.result_rel,
        "result_meta_json": job.result_meta,
        "error_json": job.error,
        "attempts": job.attempts,
    }
    if job.request is not before.request:
        values["request_json"] = job.request
    if job.request_sha256 != before.request_sha256:
        values["request_sha256"] = job.request_sha256
    return values


def _not_found(job_id: str) -> NotFoundError:
    return NotFoundError(f"job {job_id!r} not found", details={"job_id": job_id})


def _conflict(error: IntegrityError, job: Job) -> ConflictError:
    # The driver names the violated constraint: "uq_jobs_owner_key_id_idempotency_key" on
    # PostgreSQL, "jobs.owner_key_id, jobs.idempotency_key" on SQLite.
    if "idempotency_key" in str(error.orig).splitlines()[0]:
        return ConflictError(
            "the idempotency key already names another job",
            code="idempotency_conflict",
            details={"field": "idempotency_key"},
        )
    return ConflictError(
        f"job {job.job_id!r} already exists", details={"field": "job_id", "job_id": job.job_id}
    )


def _job(row: Any) -> Job:
    return Job(
        job_id=row["job_id"],
        kind=row["kind"],
        status=JobStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        owner_key_id=row["owner_key_id"],
        owner_role=row["owner_role"],
        cancel_requested=bool(row["cancel_requested"]),
        request=row["request_json"],
        progress=row["progress_json"],
        result_rel=row["result_rel"],
        result_meta=row["result_meta_json"],
        error=row["error_json"],
        idempotency_key=row["idempotency_key"],
        request_sha256=row["request_sha256"],
        attempts=row["attempts"],
    )
