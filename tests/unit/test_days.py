"""Only ``YYYY-MM-DD`` naming a real day is a day (issue 13, item 7)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.days import check_day, is_day
from domain.errors import InvalidInputError


@pytest.mark.parametrize("text", ["2026-01-01", "2024-02-29", "0001-01-01", "9999-12-31"])
def test_days(text: str) -> None:
    assert is_day(text) and check_day(text) == text


@pytest.mark.parametrize("text", [
    "2026-1-1", "2026-01-1", "26-01-01", "2026/01/01", "20260101", "2026-01-01T00:00:00", " 2026-01-01",
    "2026-01-01\n", "2026-01-01 ", "２０２６-01-01", "2026-02-30", "2023-02-29", "2026-13-01", "2026-00-10",
    "0000-01-01", "", "today",
])
def test_not_days(text: str) -> None:
    assert not is_day(text)
    with pytest.raises(InvalidInputError) as raised:
        check_day(text, "batch_date")
    assert raised.value.code == "bad_request" and raised.value.details == {"field": "batch_date"}
    assert "YYYY-MM-DD" in raised.value.message


@given(st.dates())
def test_every_iso_date_is_a_day(value: date) -> None:
    assert is_day(value.isoformat())


@given(st.dates())
def test_an_unpadded_month_or_day_is_never_a_day(value: date) -> None:
    loose = f"{value.year:04d}-{value.month}-{value.day}"
    assert is_day(loose) == (value.month >= 10 and value.day >= 10)
