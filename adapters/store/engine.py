"""Engines for the SQL stores: one SQLAlchemy async implementation, two dialects.

SQLite (aiosqlite): Python's sqlite3 driver begins transactions on its own only before DML,
which breaks transactional DDL, repeatable reads and ``BEGIN IMMEDIATE``. Following
SQLAlchemy's SQLite notes ("Enabling Non-Legacy SQLite Transactional Modes"), the driver's
transaction handling is turned off at connect (``isolation_level = None``) and SQLAlchemy's
``begin`` event emits ``BEGIN`` itself — ``BEGIN IMMEDIATE`` when the engine or connection
carries the ``sqlite_begin="IMMEDIATE"`` execution option (see :func:`immediate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BEGIN_OPTION = "sqlite_begin"
_BEGIN_MODES = {
    "": "BEGIN",
    "DEFERRED": "BEGIN DEFERRED",
    "IMMEDIATE": "BEGIN IMMEDIATE",
    "EXCLUSIVE": "BEGIN EXCLUSIVE",
}


def sqlite_url_for(path: str) -> str:
    """The aiosqlite URL of a database file (made absolute, so the cwd does not matter)."""
    url = URL.create("sqlite+aiosqlite", database=os.path.abspath(os.path.expanduser(path)))
    return url.render_as_string(hide_password=False)


def _decode_json(text: str | bytes) -> Any:
    """JSON columns are read with msgspec: a job's request can be a thousand-item plan, and
    the standard library decoder made every job read of a big batch cost milliseconds."""
    return msgspec.json.decode(text)


def sqlite_file_of(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine; None for other dialects and in-memory databases."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return database


def create_engine_for(
    url: str,
    *,
    connect_timeout_s: float = 10.0,
    busy_timeout_ms: int = 5000,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_recycle_s: int = 1800,
) -> AsyncEngine:
    """An engine for ``sqlite+aiosqlite`` or ``postgresql+asyncpg``. Nothing connects here.

    The pool settings apply to PostgreSQL; the service sizes them from its concurrency
    (``entrypoints.container.database_pool_size``, ADR 0043)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms=busy_timeout_ms)
    if backend == "postgresql":
        return _postgres_engine(parsed, connect_timeout_s=connect_timeout_s, pool_size=pool_size,
                                max_overflow=max_overflow, pool_recycle_s=pool_recycle_s)
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}; use sqlite+aiosqlite or postgresql+asyncpg"
    )


# Statements kept prepared per connection, in SQLAlchemy's adapter and in asyncpg's own
# cache (the artifact index's hot statements, ADR 0043). The stores use a few dozen.
PREPARED_STATEMENTS = 256


def _postgres_engine(url: URL, *, connect_timeout_s: float, pool_size: int, max_overflow: int,
                     pool_recycle_s: int) -> AsyncEngine:
    from adapters.store.pg_connections import mark_lost_connections, refuse_closed_connection

    engine = create_async_engine(
        url,
        json_deserializer=_decode_json,
        # No ping per checkout (a BEGIN, a query and a ROLLBACK: three round trips). A dead
        # connection is told apart without one (adapters/store/pg_connections.py, ADR 0043).
        pool_pre_ping=False,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=pool_recycle_s,
        pool_timeout=connect_timeout_s,
        # The most recently used connection first: the few that the load needs stay warm (their
        # server processes, caches and prepared statements), the rest stay idle.
        pool_use_lifo=True,
        connect_args={"timeout": connect_timeout_s, "statement_cache_size": PREPARED_STATEMENTS,
                      "prepared_statement_cache_size": PREPARED_STATEMENTS},
    )
    event.listen(engine.sync_engine, "checkout", refuse_closed_connection)
    event.listen(engine.sync_engine, "handle_error", mark_lost_connections)
    return engine


class SerialWriter:
    """SQLite write transactions of one engine, queued in-process on an asyncio lock.

    SQLite admits one writer at a time; without the queue, concurrent writers of the same
    process sleep and retry in SQLite's busy handler, which gave multi-second tails under load
    (docs/benchmarks.md). Other processes sharing the file still rely on ``busy_timeout``.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock, self.engine.begin() as conn:
            yield conn


_writers: weakref.WeakKeyDictionary[AsyncEngine, SerialWriter] = weakref.WeakKeyDictionary()


def immediate(engine: AsyncEngine) -> AsyncEngine | SerialWriter:
    """What to open write transactions with: on SQLite a ``SerialWriter`` whose transactions
    take the write lock at BEGIN (a deferred read-then-write transaction fails with
    SQLITE_BUSY, without waiting, when another writer committed meanwhile); on PostgreSQL the
    engine itself — row locks (``FOR UPDATE``) do that job there."""
    if engine.dialect.name != "sqlite":
        return engine
    writer = _writers.get(engine)
    if writer is None:
        writer = _writers[engine] = SerialWriter(engine)
    return writer


def configure_sqlite(cursor: Any, *, busy_timeout_ms: int, file_database: bool = True) -> None:
    """The settings every connection to the service's SQLite files uses (any DB-API cursor
    or ``sqlite3.Connection``)."""
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    cursor.execute("PRAGMA foreign_keys = ON")
    if file_database:
        _enable_wal(cursor, busy_timeout_ms)
        cursor.execute("PRAGMA synchronous = NORMAL")


def _enable_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switching a new database file to WAL fails at once with "database is locked" (SQLite
    does not call the busy handler there) while another connection, opened before the file
    was WAL, is in a write transaction — e.g. several processes creating the same file at
    start-up. Retried, with the same patience as the busy timeout."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as error:  # sqlite3's, or the async driver's mirror of it
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # only at connect, and only while another connection holds the lock
        pause = min(pause * 2, 0.05)


def _sqlite_engine(url: URL, *, busy_timeout_ms: int) -> AsyncEngine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = os.path.dirname(os.path.abspath(database))
        os.makedirs(parent, exist_ok=True)
    engine = create_async_engine(url, json_deserializer=_decode_json)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            configure_sqlite(cursor, busy_timeout_ms=busy_timeout_ms, file_database=database not in ("", ":memory:"))
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"unknown {SQLITE_BEGIN_OPTION} mode {mode!r}")
        conn.exec_driver_sql(_BEGIN_MODES[mode])

    return engine
