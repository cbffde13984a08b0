"""Initial schema: api_keys and artifact_index.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("api_key_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("api_key_id", name="pk_api_keys"),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_table(
        "artifact_index",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("artifact_id", sa.String(128), nullable=False),
        sa.Column("owner_key_id", sa.String(128), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("rel_ref", sa.String(512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary_json", sa.JSON(none_as_null=True), nullable=True),
        sa.PrimaryKeyConstraint("kind", "artifact_id", name="pk_artifact_index"),
    )
    op.create_index(
        "ix_artifact_index_owner_recent",
        "artifact_index",
        ["kind", "owner_key_id", sa.text("created_at DESC"), sa.text("artifact_id DESC")],
    )
    op.create_index(
        "ix_artifact_index_recent",
        "artifact_index",
        ["kind", sa.text("created_at DESC"), sa.text("artifact_id DESC")],
    )
    op.create_index(
        "ix_artifact_index_day_recent",
        "artifact_index",
        ["kind", "day", sa.text("created_at DESC"), sa.text("artifact_id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_artifact_index_day_recent", table_name="artifact_index")
    op.drop_index("ix_artifact_index_recent", table_name="artifact_index")
    op.drop_index("ix_artifact_index_owner_recent", table_name="artifact_index")
    op.drop_table("artifact_index")
    op.drop_table("api_keys")
