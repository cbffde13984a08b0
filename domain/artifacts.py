"""Blob layout (SPEC §6.5): relative keys for every artifact kind, and their validation."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from domain.errors import InvalidInputError
from domain.ids import check_id, day_of


class ArtifactKind(StrEnum):
    EXTRACT = "extract"
    BATCH = "batch"
    EVAL = "eval"
    JOB = "job"
    ANALYSIS = "analysis"


_FOLDER = {
    ArtifactKind.EXTRACT: "extracts",
    ArtifactKind.BATCH: "batches",
    ArtifactKind.EVAL: "evals",
    ArtifactKind.JOB: "jobs",
    ArtifactKind.ANALYSIS: "analyses",
}

_REL_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def artifact_rel(kind: ArtifactKind, artifact_id: str, created_at: datetime) -> str:
    check_id(artifact_id, f"{kind.value}_id")
    return f"{_FOLDER[kind]}/{day_of(created_at)}/{artifact_id}.json"


def check_rel(rel: str) -> str:
    """A relative blob key: non-empty segments of safe characters, never '..' or absolute."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") or not _REL_SEGMENT.match(p) for p in parts):
        raise InvalidInputError("invalid storage key", details={"field": "rel"})
    if ".." in rel:
        raise InvalidInputError("invalid storage key", details={"field": "rel"})
    return rel


def check_prefix(prefix: str) -> str:
    """A listing prefix: like a key but may be empty or end with '/'."""
    if prefix == "":
        return prefix
    check_rel(prefix.rstrip("/"))
    return prefix
