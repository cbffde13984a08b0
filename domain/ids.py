"""Identifier and timestamp rules shared by every id that reaches a storage path (SPEC §4)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from domain.errors import InvalidInputError

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def is_valid_id(value: str | None) -> bool:
    return bool(value) and ID_PATTERN.fullmatch(value) is not None and ".." not in value


def check_id(value: str, name: str = "id") -> str:
    if not is_valid_id(value):
        raise InvalidInputError(
            f"{name} must match {ID_PATTERN.pattern} and not contain '..'",
            details={"field": name},
        )
    return value


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def format_ts(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (isoformat, not strftime: this runs several times per item)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def parse_ts(text: str) -> datetime:
    """The inverse of ``format_ts``."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def day_of(value: datetime) -> str:
    return value.astimezone(UTC).date().isoformat()
