"""Fixtures shared by the integration tests: the HTTP app, and database engines for the SQL
store suites (SQLite files, the session's PostgreSQL database, and unreachable ones)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.engine import create_engine_for, sqlite_url_for
from adapters.store.migrate import upgrade
from tests.api.conftest import api, make_api  # noqa: F401 - the HTTP app fixtures, reused here
from tests.support.services import free_port

STORE_TABLES = "api_keys, artifact_index, jobs, input_usage"


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # A file, not :memory:, so concurrent transactions use connections that really compete.
    engine = create_engine_for(sqlite_url_for(str(tmp_path / "db" / "store.db")))
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def unreachable_sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # A directory where the database file should be: SQLite cannot open it.
    (tmp_path / "not-a-file.db").mkdir()
    engine = create_engine_for(sqlite_url_for(str(tmp_path / "not-a-file.db")))
    yield engine
    await engine.dispose()
    # aiosqlite stops the worker thread of a failed connect without awaiting it; let that
    # finish while the loop is still open (otherwise: "Event loop is closed" in the thread).
    await asyncio.sleep(0.05)


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for(pg_url)
    await upgrade(engine)  # a no-op after the first test of the session
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {STORE_TABLES} RESTART IDENTITY"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def unreachable_pg_engine() -> AsyncIterator[AsyncEngine]:
    # Nothing listens on a freshly freed port: connections are refused.
    engine = create_engine_for(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nope", connect_timeout_s=1)
    yield engine
    await engine.dispose()
