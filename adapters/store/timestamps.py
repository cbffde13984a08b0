"""A DateTime column type that stores UTC and always gives back timezone-aware UTC values.

SQLite has no timezone-aware type: SQLAlchemy stores a naive ISO string there, while
PostgreSQL's ``timestamptz`` comes back aware. This type makes both dialects round-trip a
value identically (aware, UTC, microsecond precision) and refuses naive datetimes, which
would otherwise be silently read as local time on one dialect and UTC on the other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to the store; pass a timezone-aware UTC value")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff"; naive UTC keeps those strings sortable.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
