"""The SQL stores on PostgreSQL (asyncpg): contracts, migrations, error translation."""

from __future__ import annotations

import asyncio
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.api_keys import SqlApiKeyStore
from adapters.store.artifact_index import SqlArtifactIndex
from adapters.store.engine import create_engine_for
from adapters.store.migrate import current_revision, head_revision, upgrade
from adapters.store.tables import metadata
from domain.errors import StorageUnavailableError
from tests.contracts.api_key_store_contract import ApiKeyStoreContract
from tests.contracts.artifact_index_contract import ArtifactIndexContract
from tests.support.pg import pooled_connections_closed

pytestmark = pytest.mark.services


@pytest.fixture
def engine(pg_engine: AsyncEngine) -> AsyncEngine:
    return pg_engine


@pytest.fixture
def unreachable_engine(unreachable_pg_engine: AsyncEngine) -> AsyncEngine:
    return unreachable_pg_engine


class TestPostgresApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def adapter(self, engine: AsyncEngine) -> SqlApiKeyStore:
        return SqlApiKeyStore(engine)

    @pytest.fixture
    def unreachable(self, unreachable_engine: AsyncEngine) -> SqlApiKeyStore:
        return SqlApiKeyStore(unreachable_engine)


class TestPostgresArtifactIndex(ArtifactIndexContract):
    @pytest.fixture
    def adapter(self, engine: AsyncEngine) -> SqlArtifactIndex:
        return SqlArtifactIndex(engine)

    @pytest.fixture
    def unreachable(self, unreachable_engine: AsyncEngine) -> SqlArtifactIndex:
        return SqlArtifactIndex(unreachable_engine)


async def _fresh_database(pg_url: str, name: str) -> str:
    admin = create_engine_for(pg_url)
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


async def _drop_database(pg_url: str, name: str) -> None:
    admin = create_engine_for(pg_url)
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def test_upgrade_is_idempotent_and_reaches_head(pg_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1] + "_mig"
    url = await _fresh_database(pg_url, name)
    engine = create_engine_for(url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
        await _drop_database(pg_url, name)


async def test_concurrent_upgrades_are_serialised(pg_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1] + "_race"
    url = await _fresh_database(pg_url, name)
    engines = [create_engine_for(url) for _ in range(4)]
    try:
        await asyncio.gather(*(upgrade(e) for e in engines))
        assert await current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            await e.dispose()
        await _drop_database(pg_url, name)


async def test_migrated_schema_matches_the_table_metadata(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), metadata
            )
        )
    assert diff == []


async def test_pooled_connections_killed_by_the_server_are_replaced(engine: AsyncEngine) -> None:
    store = SqlApiKeyStore(engine)
    await store.ping()  # leaves a connection in the pool
    killer = create_engine_for(engine.url.render_as_string(hide_password=False))
    try:
        async with killer.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")  # a fresh pg_stat_activity each time
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            for _ in range(500):  # until the killed processes are gone (their sockets closed)
                left = await conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"))
                if left.scalar_one() == 0:
                    break
                await asyncio.sleep(0.02)
    finally:
        await killer.dispose()
    await pooled_connections_closed(engine)
    # No ping per checkout (ADR 0043): the pool refuses the connection asyncpg already knows
    # is closed, and opens another.
    await store.ping()
    assert await store.list() == []


async def test_unreachable_server_fails_fast(unreachable_engine: AsyncEngine) -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError):
        await SqlApiKeyStore(unreachable_engine).ping()
    assert time.monotonic() - started < 5


async def test_unknown_database_is_storage_unavailable(pg_url: str) -> None:
    engine = create_engine_for(pg_url.rsplit("/", 1)[0] + "/no_such_db_here", connect_timeout_s=2)
    try:
        with pytest.raises(StorageUnavailableError):
            await SqlArtifactIndex(engine).ping()
    finally:
        await engine.dispose()
