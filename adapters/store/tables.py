"""Schema of the SQL stores (SQLAlchemy Core). Migrations in ``migrations/versions`` create it.

The metadata is the target of every migration; a later table (``jobs``: revision 0002) is
added here and in a new revision, never by editing an earlier one. ``tests/unit/test_migrations.py``
checks that the migrated schema and this metadata agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

from adapters.store.timestamps import UtcDateTime

# Deterministic constraint names, so later migrations can refer to them on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

api_keys = Table(
    "api_keys",
    metadata,
    Column("api_key_id", Integer, primary_key=True, autoincrement=True),
    Column("key_id", String(128), nullable=False),
    Column("key_hash", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    UniqueConstraint("key_id"),
    UniqueConstraint("key_hash"),
)

# The primary key (kind, artifact_id) is the uniqueness rule: one index entry per artifact.
artifact_index = Table(
    "artifact_index",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("artifact_id", String(128), primary_key=True),
    Column("owner_key_id", String(128), nullable=False),
    Column("day", String(10), nullable=False),
    Column("rel_ref", String(512), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("summary_json", JSON(none_as_null=True), nullable=True),
    # "pending": claimed before the model call, artifact not yet written; "complete" (ADR 0042).
    Column("state", String(16), nullable=False, server_default="complete"),
    Column("claimed_at", UtcDateTime, nullable=True),
)

# Paging is "newest first, then artifact_id", so each index ends in exactly that order and
# a keyset page is one index range scan: per owner, across owners (admin), per day (debug).
Index(
    "ix_artifact_index_owner_recent",
    artifact_index.c.kind,
    artifact_index.c.owner_key_id,
    artifact_index.c.created_at.desc(),
    artifact_index.c.artifact_id.desc(),
)
Index(
    "ix_artifact_index_recent",
    artifact_index.c.kind,
    artifact_index.c.created_at.desc(),
    artifact_index.c.artifact_id.desc(),
)
Index(
    "ix_artifact_index_day_recent",
    artifact_index.c.kind,
    artifact_index.c.day,
    artifact_index.c.created_at.desc(),
    artifact_index.c.artifact_id.desc(),
)

# One row per job (SPEC §7). JSON columns keep key order and number forms on both dialects
# (plain JSON, not JSONB). An idempotency key names one job per owner; NULL keys (none
# given, or released after expiry) never collide, so a plain unique constraint suffices.
jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("owner_key_id", String(128), nullable=False),
    Column("owner_role", String(32), nullable=False),
    Column("cancel_requested", Boolean, nullable=False),
    Column("request_json", JSON(none_as_null=True), nullable=False),
    Column("progress_json", JSON(none_as_null=True), nullable=True),
    Column("result_rel", String(512), nullable=True),
    Column("result_meta_json", JSON(none_as_null=True), nullable=True),
    Column("error_json", JSON(none_as_null=True), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("request_sha256", String(64), nullable=True),
    Column("attempts", Integer, nullable=False),
    UniqueConstraint("owner_key_id", "idempotency_key"),
)

# Paging is newest first by (created_at, job_id) per owner or across owners (admin), with or
# without a status filter; the status index read forwards also serves ids_with_status.
Index(
    "ix_jobs_owner_recent",
    jobs.c.owner_key_id,
    jobs.c.created_at.desc(),
    jobs.c.job_id.desc(),
)
Index(
    "ix_jobs_owner_status_recent",
    jobs.c.owner_key_id,
    jobs.c.status,
    jobs.c.created_at.desc(),
    jobs.c.job_id.desc(),
)
Index("ix_jobs_recent", jobs.c.created_at.desc(), jobs.c.job_id.desc())
Index("ix_jobs_status_recent", jobs.c.status, jobs.c.created_at.desc(), jobs.c.job_id.desc())

# Stored-input bytes per owner (MAX_INPUT_BYTES_PER_OWNER): a running total beside the blobs.
input_usage = Table(
    "input_usage",
    metadata,
    Column("owner_key_id", String(128), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
