"""Keyset cursors for newest-first paging: opaque url-safe base64 of (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from domain.errors import InvalidInputError

# An id is at most 128 characters and a timestamp ~32: base64 of the pair stays far below this.
MAX_CURSOR_CHARS = 512


def encode_cursor(created_at: datetime, artifact_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), artifact_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position after which the next page starts; ``InvalidInputError`` if malformed."""
    if len(cursor) > MAX_CURSOR_CHARS:  # ours are ~100 characters; a longer one is not ours
        raise _bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, artifact_id = json.loads(raw)
        created_at = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(artifact_id, str) or created_at.tzinfo is None:
        raise _bad_cursor()
    return created_at, artifact_id


def _bad_cursor() -> InvalidInputError:
    return InvalidInputError("malformed cursor", details={"field": "cursor"})
