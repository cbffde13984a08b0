"""Timestamp and day formatting (isoformat-based) match the strftime forms they replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from domain.ids import day_of, format_ts

aware = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                timezone(timedelta(hours=-11))]))


@given(aware)
def test_same_text_as_strftime(value: datetime) -> None:
    utc = value.astimezone(UTC)
    assert format_ts(value) == utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert day_of(value) == utc.strftime("%Y-%m-%d")


def test_microseconds_are_dropped_not_rounded() -> None:
    assert format_ts(datetime(2026, 11, 22, 23, 59, 59, 999999, tzinfo=UTC)) == "2026-11-22T23:59:59Z"
