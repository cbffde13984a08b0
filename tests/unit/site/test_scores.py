from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.site.scores import parse_score


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.85", 0.85),
        ("0,7", 0.7),
        ("85%", 0.85),
        ("85 %", 0.85),
        ("85", 0.85),
        ("100", 1.0),
        ("1", 1.0),
        ("1.00", 1.0),
        ("0", 0.0),
        ("150", 1.0),  # not in (1, 100]: clamped, not read as a percentage
        ("1.5", 0.015),  # in (1, 100]: a percentage, as SPEC §9.2 says
        ("0.5%", 0.005),
        ("-0.2", 0.0),
        ("[0.90]", 0.9),
        ("уверенность 0,65 из 1", 0.65),
        ("0.12345", 0.1235),
        ("0.7-0.8", 0.7),
        ("9" * 500, 1.0),
    ],
)
def test_reads_the_first_number(raw: str, expected: float) -> None:
    assert parse_score(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "нет", "n/a", "—", "[]", "high"])
def test_no_number_is_none(raw: str | None) -> None:
    assert parse_score(raw) is None


@given(st.text())
def test_always_none_or_a_rounded_unit_value(raw: str) -> None:
    score = parse_score(raw)
    assert score is None or (0.0 <= score <= 1.0 and round(score, 4) == score)


@given(st.floats(min_value=0, max_value=1, allow_nan=False), st.sampled_from([".", ","]))
def test_unit_values_are_kept_to_four_decimals(value: float, point: str) -> None:
    assert parse_score(f"{value:.4f}".replace(".", point)) == round(value, 4)
