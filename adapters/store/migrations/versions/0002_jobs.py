"""The jobs table (SPEC §7).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_key_id", sa.String(128), nullable=False),
        sa.Column("owner_role", sa.String(32), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("request_json", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("progress_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("result_rel", sa.String(512), nullable=True),
        sa.Column("result_meta_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_jobs"),
        sa.UniqueConstraint(
            "owner_key_id", "idempotency_key", name="uq_jobs_owner_key_id_idempotency_key"
        ),
    )
    op.create_index(
        "ix_jobs_owner_recent",
        "jobs",
        ["owner_key_id", sa.text("created_at DESC"), sa.text("job_id DESC")],
    )
    op.create_index(
        "ix_jobs_owner_status_recent",
        "jobs",
        ["owner_key_id", "status", sa.text("created_at DESC"), sa.text("job_id DESC")],
    )
    op.create_index("ix_jobs_recent", "jobs", [sa.text("created_at DESC"), sa.text("job_id DESC")])
    op.create_index(
        "ix_jobs_status_recent",
        "jobs",
        ["status", sa.text("created_at DESC"), sa.text("job_id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_status_recent", table_name="jobs")
    op.drop_index("ix_jobs_recent", table_name="jobs")
    op.drop_index("ix_jobs_owner_status_recent", table_name="jobs")
    op.drop_index("ix_jobs_owner_recent", table_name="jobs")
    op.drop_table("jobs")
