"""SqlJobStore on PostgreSQL (asyncpg): the contract, row locks across engines."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.engine import create_engine_for
from adapters.store.jobs import SqlJobStore
from domain.jobs import IllegalTransitionError, Job, JobStatus, new_job, start
from tests.contracts.job_store_contract import T0, T1, JobStoreContract

pytestmark = pytest.mark.services


@pytest.fixture
def engine(pg_engine: AsyncEngine) -> AsyncEngine:
    return pg_engine


@pytest.fixture
def unreachable_engine(unreachable_pg_engine: AsyncEngine) -> AsyncEngine:
    return unreachable_pg_engine


class TestPostgresJobStore(JobStoreContract):
    @pytest.fixture
    def adapter(self, engine: AsyncEngine) -> SqlJobStore:
        return SqlJobStore(engine)

    @pytest.fixture
    def unreachable(self, unreachable_engine: AsyncEngine) -> SqlJobStore:
        return SqlJobStore(unreachable_engine)


async def test_starts_from_separate_engines_have_exactly_one_winner(engine: AsyncEngine) -> None:
    # Separate pools stand in for separate processes (API replicas, Celery workers).
    others = [create_engine_for(engine.url.render_as_string(hide_password=False)) for _ in range(3)]
    stores = [SqlJobStore(e) for e in (engine, *others)]
    try:
        await stores[0].create(
            new_job(
                job_id="job-1",
                kind="extract",
                owner_key_id="alice",
                owner_role="client",
                request={},
                at=T0,
            )
        )
        results = await asyncio.gather(
            *(stores[i % 4].update("job-1", lambda j: start(j, at=T1)) for i in range(24)),
            return_exceptions=True,
        )
    finally:
        for e in others:
            await e.dispose()
    assert sum(isinstance(r, Job) for r in results) == 1
    assert sum(isinstance(r, IllegalTransitionError) for r in results) == 23
    got = await stores[0].get("job-1")
    assert got is not None and got.status is JobStatus.RUNNING and got.attempts == 1


async def test_json_columns_are_plain_json_not_jsonb(engine: AsyncEngine) -> None:
    # JSONB would reorder keys and drop duplicates; results must round-trip as written.
    async with engine.connect() as conn:
        kinds = (
            await conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'jobs' AND column_name LIKE '%\\_json'"
                )
            )
        ).all()
    assert {k for _, k in kinds} == {"json"} and len(kinds) == 4
