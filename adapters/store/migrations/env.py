"""Alembic environment, driven programmatically by ``adapters.store.migrate``.

The caller passes an open connection (already inside a transaction) in
``config.attributes["connection"]``; there is no alembic.ini and no logging setup here.
Offline mode (``alembic upgrade --sql``) renders SQL for ``config.get_main_option("sqlalchemy.url")``.
"""

from __future__ import annotations

from alembic import context

from adapters.store.tables import metadata

config = context.config


def _run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("offline migrations need the sqlalchemy.url option")
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through adapters.store.migrate.upgrade(engine)")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
