"""SqlJobStore on SQLite (aiosqlite, a WAL file): the contract, BEGIN IMMEDIATE contention."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.engine import create_engine_for, immediate
from adapters.store.jobs import SqlJobStore
from domain.errors import StorageUnavailableError
from domain.jobs import IllegalTransitionError, Job, JobStatus, new_job, report_progress, start
from tests.contracts.job_store_contract import T0, T1, JobStoreContract


def _job(job_id: str) -> Job:
    return new_job(
        job_id=job_id,
        kind="batch_extract",
        owner_key_id="alice",
        owner_role="client",
        request={},
        at=T0,
        total=40,
    )


@pytest.fixture
def engine(sqlite_engine: AsyncEngine) -> AsyncEngine:
    return sqlite_engine


@pytest.fixture
def unreachable_engine(unreachable_sqlite_engine: AsyncEngine) -> AsyncEngine:
    return unreachable_sqlite_engine


class TestSqliteJobStore(JobStoreContract):
    @pytest.fixture
    def adapter(self, engine: AsyncEngine) -> SqlJobStore:
        return SqlJobStore(engine)

    @pytest.fixture
    def unreachable(self, unreachable_engine: AsyncEngine) -> SqlJobStore:
        return SqlJobStore(unreachable_engine)


async def test_engines_on_one_file_serialise_updates(engine: AsyncEngine) -> None:
    # Separate engines stand in for separate processes: their BEGIN IMMEDIATEs queue on
    # busy_timeout instead of failing with "database is locked".
    others = [create_engine_for(str(engine.url)) for _ in range(3)]
    stores = [SqlJobStore(e) for e in (engine, *others)]

    def one_more(j: Job) -> Job:
        progress = dict(j.progress or {})
        progress["done"] += 1
        return report_progress(j, progress, at=T1)

    try:
        await stores[0].create(_job("job-1"))
        starts = await asyncio.gather(
            *(stores[i % 4].update("job-1", lambda j: start(j, at=T1)) for i in range(20)),
            return_exceptions=True,
        )
        await asyncio.gather(*(stores[i % 4].update("job-1", one_more) for i in range(40)))
    finally:
        for e in others:
            await e.dispose()
    assert sum(isinstance(r, Job) for r in starts) == 1
    assert sum(isinstance(r, IllegalTransitionError) for r in starts) == 19
    got = await stores[0].get("job-1")
    assert got is not None and got.status is JobStatus.RUNNING and got.attempts == 1
    assert got.progress is not None and got.progress["done"] == 40


async def test_a_lock_held_past_busy_timeout_is_storage_unavailable(engine: AsyncEngine) -> None:
    store = SqlJobStore(engine)
    await store.create(_job("job-1"))
    short = create_engine_for(str(engine.url), busy_timeout_ms=50)
    try:
        async with immediate(engine).begin() as holder:
            await holder.execute(text("SELECT 1"))
            with pytest.raises(StorageUnavailableError):
                await SqlJobStore(short).update("job-1", lambda j: start(j, at=T1))
    finally:
        await short.dispose()
    got = await store.get("job-1")
    assert got is not None and got.status is JobStatus.QUEUED
