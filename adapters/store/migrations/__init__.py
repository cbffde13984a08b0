"""Alembic migrations shipped inside the package; run them with ``adapters.store.migrate``."""
