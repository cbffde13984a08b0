"""Migrations ship inside the package and agree with ``adapters.store.tables``."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from setuptools import find_packages

from adapters.store.engine import create_engine_for, sqlite_url_for
from adapters.store.migrate import alembic_config, head_revision, upgrade
from adapters.store.tables import metadata

ROOT = Path(__file__).resolve().parents[2]


def test_scripts_are_package_resources() -> None:
    migrations = files("adapters.store.migrations")
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py"):
        assert migrations.joinpath(name).is_file(), name


def test_migration_packages_are_found_by_setuptools() -> None:
    packages = find_packages(str(ROOT), include=["adapters*"])
    assert {"adapters.store.migrations", "adapters.store.migrations.versions"} <= set(packages)


def test_revisions_form_one_linear_history_ending_at_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert [r.revision for r in reversed(revisions)][0] == "0001"


async def test_migrated_schema_matches_the_table_metadata(tmp_path: Path) -> None:
    engine = create_engine_for(sqlite_url_for(str(tmp_path / "schema.db")))
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []
