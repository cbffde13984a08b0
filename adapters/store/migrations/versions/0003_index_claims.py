"""Artifact index claims (ADR 0042): an entry is claimed (pending) before its artifact is
written and completed after; existing entries are complete.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifact_index", sa.Column("state", sa.String(16), nullable=False, server_default="complete"))
    op.add_column("artifact_index", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifact_index") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("state")
