"""Stored-input bytes per owner (MAX_INPUT_BYTES_PER_OWNER, issue 12).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "input_usage",
        sa.Column("owner_key_id", sa.String(128), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_key_id", name="pk_input_usage"),
    )


def downgrade() -> None:
    op.drop_table("input_usage")
