"""The SQL stores on SQLite (aiosqlite): contracts, migrations, transaction control."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.api_keys import SqlApiKeyStore
from adapters.store.artifact_index import SqlArtifactIndex
from adapters.store.engine import create_engine_for, immediate, sqlite_url_for
from adapters.store.migrate import current_revision, head_revision, upgrade
from tests.contracts.api_key_store_contract import ApiKeyStoreContract
from tests.contracts.artifact_index_contract import ArtifactIndexContract


@pytest.fixture
def engine(sqlite_engine: AsyncEngine) -> AsyncEngine:
    return sqlite_engine


@pytest.fixture
def unreachable_engine(unreachable_sqlite_engine: AsyncEngine) -> AsyncEngine:
    return unreachable_sqlite_engine


class TestSqliteApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def adapter(self, engine: AsyncEngine) -> SqlApiKeyStore:
        return SqlApiKeyStore(engine)

    @pytest.fixture
    def unreachable(self, unreachable_engine: AsyncEngine) -> SqlApiKeyStore:
        return SqlApiKeyStore(unreachable_engine)


class TestSqliteArtifactIndex(ArtifactIndexContract):
    @pytest.fixture
    def adapter(self, engine: AsyncEngine) -> SqlArtifactIndex:
        return SqlArtifactIndex(engine)

    @pytest.fixture
    def unreachable(self, unreachable_engine: AsyncEngine) -> SqlArtifactIndex:
        return SqlArtifactIndex(unreachable_engine)


async def test_engine_creates_the_parent_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "jobs.db"
    engine = create_engine_for(sqlite_url_for(str(path)))
    assert path.parent.is_dir() and not path.exists()  # directory made, nothing connected yet
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert path.exists()
    finally:
        await engine.dispose()


def test_unsupported_database_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        create_engine_for("mysql+aiomysql://u@localhost/db")


def test_sqlite_url_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_url_for("./var/db/jobs.db") == f"sqlite+aiosqlite:///{tmp_path}/var/db/jobs.db"


async def test_upgrade_is_idempotent_and_reaches_head(tmp_path: Path) -> None:
    engine = create_engine_for(sqlite_url_for(str(tmp_path / "m.db")))
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_from_separate_engines(tmp_path: Path) -> None:
    url = sqlite_url_for(str(tmp_path / "race.db"))
    engines = [create_engine_for(url) for _ in range(4)]
    try:
        await asyncio.gather(*(upgrade(e) for e in engines))
        assert await current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            await e.dispose()


async def test_transactions_are_real_and_immediate_takes_the_write_lock(
    engine: AsyncEngine,
) -> None:
    # DDL and a read inside BEGIN roll back together (the driver is not auto-committing).
    async with engine.connect() as conn:
        await conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
        await conn.rollback()
    async with engine.connect() as conn:
        tables = (
            await conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'scratch'"))
        ).all()
        assert tables == []
    # While one BEGIN IMMEDIATE holds the lock, another cannot start a write transaction.
    short = create_engine_for(str(engine.url), busy_timeout_ms=50)
    try:
        async with immediate(engine).begin():
            with pytest.raises(Exception, match="locked"):
                async with immediate(short).begin() as other:
                    await other.execute(text("SELECT 1"))
    finally:
        await short.dispose()
