"""PostgreSQL for tests: run a statement, and a database of a test's own on the local server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator


def plain_dsn(url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def run_sql(dsn: str, sql: str) -> None:
    """Run ``sql`` on its own connection (raises whatever the connection raises)."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(plain_dsn(dsn), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str = "ocr_test") -> Iterator[str]:
    """A new database on the server of ``server_url`` (any database URL there), as a
    SQLAlchemy URL; dropped afterwards. Creating it raises when the server is unusable."""
    base = plain_dsn(server_url).rsplit("/", 1)[0]
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    run_sql(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        with contextlib.suppress(Exception):  # best effort: a leftover test database is harmless
            run_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def pooled_connections_closed(engine: object, pids: set[int] | None = None, timeout_s: float = 10.0) -> None:
    """Wait until asyncpg has read the end of every connection idle in ``engine``'s pool (of
    those whose server process is in ``pids``, when given): the state a checkout refuses (ADR 0043). A terminated backend leaves ``pg_stat_activity`` a
    moment before its socket closes, so waiting for the backends to go is not enough on a busy
    machine. Looks into SQLAlchemy's pool queue (a test-only view of its internals)."""
    pool = engine.sync_engine.pool  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        records = list(pool._pool._queue._queue)
        drivers = [r.dbapi_connection.driver_connection for r in records if r.dbapi_connection is not None]
        if all(d.is_closed() or (pids is not None and d.get_server_pid() not in pids) for d in drivers):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("pooled connections still open after their backends were terminated")
        await asyncio.sleep(0.01)
