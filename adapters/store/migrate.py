"""Schema migrations: alembic, configured in code, scripts shipped as package data.

Every database the service uses (the SQLite jobs and auth files, or the one DATABASE_URL
database) gets the same migration set. ``upgrade`` is idempotent and safe when several
processes start at once: on PostgreSQL it holds a transaction-scoped advisory lock, on
SQLite it runs inside ``BEGIN IMMEDIATE``; DDL is transactional on both, so a migration
either lands completely or not at all.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.engine import immediate
from adapters.store.errors import unavailable_on_driver_error

SCRIPT_LOCATION = "adapters.store:migrations"
# Any fixed 64-bit number, the same in every process of this service ("ocr_mig").
_PG_MIGRATION_LOCK = 0x6F63725F6D6967


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("no migration revisions found")
    return head


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision (no-op when it is already there)."""
    async with unavailable_on_driver_error("migrate"), immediate(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        await conn.run_sync(_upgrade_head)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with unavailable_on_driver_error("migration status"), engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def _upgrade_head(connection: Connection) -> None:
    config = alembic_config()
    # env.py sees the open transaction and runs inside it; the caller commits.
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
