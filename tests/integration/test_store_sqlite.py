"""The SQL stores on SQLite (aiosqlite): contracts, migrations, transaction control."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.api_keys import SqlApiKeyStore
from adapters.store.artifact_index import SqlArtifactIndex
from adapters.store.engine import (
    configure_sqlite,
    create_engine_for,
    immediate,
    sqlite_file_of,
    sqlite_url_for,
)
from adapters.store.migrate import current_revision, head_revision, upgrade
from adapters.store.sqlite_index import SqliteArtifactIndex
from domain.errors import ArtifactExistsError, StorageUnavailableError
from tests.contracts.api_key_store_contract import ApiKeyStoreContract
from tests.contracts.artifact_index_contract import T0, ArtifactIndexContract, entry


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


class TestSqlArtifactIndexOnSqlite(ArtifactIndexContract):
    @pytest.fixture
    def adapter(self, engine: AsyncEngine) -> SqlArtifactIndex:
        return SqlArtifactIndex(engine)

    @pytest.fixture
    def unreachable(self, unreachable_engine: AsyncEngine) -> SqlArtifactIndex:
        return SqlArtifactIndex(unreachable_engine)


def _fast_index(engine: AsyncEngine) -> SqliteArtifactIndex:
    path = sqlite_file_of(engine)
    assert path is not None
    return SqliteArtifactIndex(path, SqlArtifactIndex(engine))


class TestSqliteArtifactIndex(ArtifactIndexContract):
    """The raw-sqlite3 hot path (ADR 0007) against the same contract."""

    @pytest.fixture
    async def adapter(self, engine: AsyncEngine) -> AsyncIterator[SqliteArtifactIndex]:
        index = _fast_index(engine)
        yield index
        await index.aclose()

    @pytest.fixture
    async def unreachable(self, unreachable_engine: AsyncEngine) -> AsyncIterator[SqliteArtifactIndex]:
        index = _fast_index(unreachable_engine)
        yield index
        await index.aclose()


async def test_both_sqlite_index_adapters_read_what_the_other_wrote(engine: AsyncEngine) -> None:
    sql, fast = SqlArtifactIndex(engine), _fast_index(engine)
    try:
        by_sql = entry("by-sql", T0.astimezone(timezone(timedelta(hours=3))), summary={"n": 1, "x": [None, 1.5]})
        by_fast = entry("by-fast", T0 + timedelta(microseconds=1), summary={"ü": "ä"})
        await sql.add(by_sql)
        await fast.add(by_fast)
        assert await fast.get("batch", "by-sql") == by_sql
        assert await sql.get("batch", "by-fast") == by_fast
        page = await sql.page("batch", owner_key_id="alice", limit=10)
        assert [e.artifact_id for e in page.items] == ["by-fast", "by-sql"]
        with pytest.raises(ArtifactExistsError):
            await fast.add(entry("by-sql"))
    finally:
        await fast.aclose()


async def test_a_group_of_inserts_commits_together_and_a_duplicate_fails_alone(engine: AsyncEngine) -> None:
    fast = _fast_index(engine)
    try:
        await fast.add(entry("taken"))
        names = [f"item-{i}" for i in range(200)] + ["taken"]
        results = await asyncio.gather(*(fast.add(entry(n)) for n in names), return_exceptions=True)
        assert results[:-1] == [None] * 200
        assert isinstance(results[-1], ArtifactExistsError)
        page = await fast.page("batch", owner_key_id=None, limit=500)
        assert len(page.items) == 201
    finally:
        await fast.aclose()


async def test_a_lookup_while_another_connection_holds_the_write_lock_does_not_wait(engine: AsyncEngine) -> None:
    fast = _fast_index(engine)
    try:
        await fast.add(entry("run-1"))
        async with immediate(engine).begin() as conn:  # a writer mid-transaction (WAL: readers go on)
            await conn.execute(text("DELETE FROM artifact_index WHERE artifact_id = 'run-1'"))
            assert (await fast.get("batch", "run-1")) is not None
        assert await fast.get("batch", "run-1") is None
    finally:
        await fast.aclose()


async def test_a_closed_index_refuses_writes(engine: AsyncEngine) -> None:
    fast = _fast_index(engine)
    await fast.add(entry("run-1"))
    await fast.aclose()
    with pytest.raises(StorageUnavailableError):
        await fast.add(entry("run-2"))


def test_sqlite_file_of_names_only_real_files(tmp_path: Path) -> None:
    engine = create_engine_for(sqlite_url_for(str(tmp_path / "x.db")))
    assert sqlite_file_of(engine) == str(tmp_path / "x.db")
    assert sqlite_file_of(create_engine_for("sqlite+aiosqlite:///:memory:")) is None


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


def test_switching_to_wal_waits_for_a_writer_that_opened_the_file_before_it(tmp_path: Path) -> None:
    """SQLite answers "database is locked" at once, without its busy handler, when a new file is
    switched to WAL while another connection writes in rollback mode (several processes
    creating the database at start-up). Connecting waits for it instead, like busy_timeout."""

    def writing_in_rollback_mode(path: Path) -> sqlite3.Connection:
        early = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        early.execute("CREATE TABLE t (x INTEGER)")
        early.execute("BEGIN IMMEDIATE")
        early.execute("INSERT INTO t VALUES (1)")
        return early

    early = writing_in_rollback_mode(tmp_path / "fresh.db")
    commit = threading.Timer(0.3, lambda: early.execute("COMMIT"))
    commit.start()
    late = sqlite3.connect(tmp_path / "fresh.db", isolation_level=None)
    started = time.monotonic()
    try:
        configure_sqlite(late, busy_timeout_ms=5000)
        assert time.monotonic() - started >= 0.25  # it waited for the writer
        assert late.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert late.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        commit.join()
        late.close()
        early.close()

    stuck = writing_in_rollback_mode(tmp_path / "stuck.db")
    other = sqlite3.connect(tmp_path / "stuck.db", isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # the wait is bounded
            configure_sqlite(other, busy_timeout_ms=100)
    finally:
        other.close()
        stuck.close()


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
