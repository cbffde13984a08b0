from __future__ import annotations

import calendar
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.evaluation.canon import Canon, canon_date

ENGLISH = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
RUSSIAN = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
           "сентября", "октября", "ноября", "декабря"]

FORMATS = [
    lambda d: d.isoformat(),
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.day}.{d.month}.{d.year % 100:02d}",
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    lambda d: f"{d.day:02d}-{d.month:02d}-{d.year}",
    lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d.day} {ENGLISH[d.month - 1][:3]} {d.year}",
    lambda d: f"{d.day:02d}-{ENGLISH[d.month - 1][:3].upper()}-{d.year % 100:02d}",
    lambda d: f"{d.day} {ENGLISH[d.month - 1]} {d.year}",
    lambda d: f"{ENGLISH[d.month - 1][:3]} {d.day}, {d.year}",
    lambda d: f"{d.day} {RUSSIAN[d.month - 1]} {d.year}",
    lambda d: f"{d.day} {RUSSIAN[d.month - 1]} {d.year} г.",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year} 14:35",
    lambda d: f"{d.isoformat()}T08:00:00Z",
]
receipt_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-21", "2026-11-21"),
        ("21.11.2026", "2026-11-21"),
        ("21/11/2026", "2026-11-21"),
        ("11/21/2026", "2026-11-21"),  # second part > 12: month first
        ("03/04/05", "2005-04-03"),  # ambiguous: day first by policy
        ("03/04/2026", "2026-04-03"),
        ("2026/11/21", "2026-11-21"),
        ("21 Nov 2026", "2026-11-21"),
        ("21-nov-26", "2026-11-21"),
        ("Nov 21, 2026", "2026-11-21"),
        ("21 Sept 2026", "2026-09-21"),
        ("21 ноября 2026", "2026-11-21"),
        ("21 НОЯБ. 2026 г.", "2026-11-21"),
        ("1 мая 2026 года", "2026-05-01"),
        ("29.02.2024", "2024-02-29"),
        (" 21.11.2026 14:35:07 ", "2026-11-21"),
    ],
)
def test_dates_canonicalise_to_iso(raw: str, expected: str) -> None:
    assert canon_date(raw) == Canon(value=expected)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("31.02.2026", "not a real date"),
        ("29.02.2025", "not a real date"),
        ("13/13/2026", "not a real date"),
        ("2026-13-01", "not a real date"),
        ("32 Nov 2026", "not a real date"),
        ("21 Foo 2026", "not a date"),
        ("yesterday", "not a date"),
        ("21.11", "not a date"),
        ("21.11.202", "not a date"),
        (20261121, "not a date"),
    ],
)
def test_unreadable_dates_give_a_reason(raw: object, reason: str) -> None:
    assert canon_date(raw) == Canon(error=reason)


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_blank_date_is_empty(raw: object) -> None:
    assert canon_date(raw).empty


@given(receipt_dates, st.sampled_from(range(len(FORMATS))))
def test_round_trip_through_every_format(day: date, index: int) -> None:
    assert canon_date(FORMATS[index](day)) == Canon(value=day.isoformat())


@given(receipt_dates)
def test_month_first_is_recognised_when_the_day_proves_it(day: date) -> None:
    assume(day.day > 12)
    assert canon_date(f"{day.month:02d}/{day.day:02d}/{day.year}").value == day.isoformat()


@given(st.data(), st.integers(min_value=2000, max_value=2099), st.sampled_from([".", "/", "-"]))
def test_impossible_days_are_not_real_dates(data: st.DataObject, year: int, sep: str) -> None:
    month = data.draw(st.sampled_from([2, 4, 6, 9, 11]))
    last = calendar.monthrange(year, month)[1]
    day = data.draw(st.sampled_from([0, *range(last + 1, 32)]))
    assert canon_date(f"{day:02d}{sep}{month:02d}{sep}{year}") == Canon(error="not a real date")


@given(st.one_of(st.text(), st.text(alphabet="0123456789./- :tгноябряNov,", max_size=24), st.integers()))
def test_never_raises(raw: object) -> None:
    canon = canon_date(raw)
    assert canon.value is None or canon.error is None
    if canon.value is not None:
        assert canon_date(canon.value) == canon
