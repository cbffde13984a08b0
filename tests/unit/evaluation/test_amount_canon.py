from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.evaluation.canon import Canon, canon_amount

CANONICAL = re.compile(r"-?(0|[1-9]\d*)(\.\d*[1-9])?")

# (grouping, decimal) separator styles seen on receipts.
STYLES = [
    (",", "."),
    (".", ","),
    (" ", ","),
    ("\u00a0", ","),
    ("\u202f", ","),
    ("\u2009", "."),
    ("'", "."),
    ("", "."),
    ("", ","),
]
DECORATIONS = ["{}", "$ {}", "{} €", "€{}", "Rp {}", "{} руб.", "USD {}", "{}₽", "{} kr"]
SIGNS = ["-{}", "{}-", "({})", "\u2212{}"]


def printed(value: Decimal, grouping: str, decimal: str, places: int) -> str:
    whole, _, fraction = format(abs(value), "f").partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    text = grouping.join(groups)
    return text + decimal + fraction if places else text


def read(canon: Canon) -> Decimal:
    assert canon.error is None, canon
    assert canon.value is not None and CANONICAL.fullmatch(canon.value), canon
    return Decimal(canon.value)


cents = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False)


@pytest.mark.parametrize(
    ("raw", "currency", "expected"),
    [
        ("1.234,56", None, "1234.56"),
        ("1,234.56", None, "1234.56"),
        ("1234,56", None, "1234.56"),
        ("75.000", "IDR", "75000"),
        ("75.000", "JPY", "75000"),
        ("Rp 39.000", None, "39000"),
        ("Rp39.000,-", None, "39000"),
        ("Rp. 1.250.000", None, "1250000"),
        ("¥1,500", "JPY", "1500"),
        ("₩ 12,000", None, "12000"),
        ("1.234.567", None, "1234567"),
        ("1 234 567,5", None, "1234567.5"),
        ("1\u00a0234,56 ₽", None, "1234.56"),
        ("1\u2009234.56", None, "1234.56"),
        ("1'234.50 CHF", None, "1234.5"),
        ("100 руб.", None, "100"),
        ("-$1,234.50", None, "-1234.5"),
        ("$-5", None, "-5"),
        ("(5.00)", None, "-5"),
        ("5.000-", "IDR", "-5000"),
        ("\u22125,00 €", None, "-5"),
        ("€ 5,-", None, "5"),
        ("Fr. 12.-", None, "12"),
        ("0.500", None, "0.5"),
        ("0,500", None, "0.5"),
        ("1234.567", None, "1234.567"),
        (".5", None, "0.5"),
        ("-0.00", None, "0"),
        ("１２３", None, "123"),
        ("USD 12.30", None, "12.3"),
        (12.5, None, "12.5"),
        (123.456, None, "123.456"),  # a JSON number is never ambiguous
        (-7, None, "-7"),
        (0.1, None, "0.1"),
        (39000, None, "39000"),
        (Decimal("1E+3"), None, "1000"),
    ],
)
def test_printed_amounts_canonicalise(raw: object, currency: str | None, expected: str) -> None:
    assert canon_amount(raw, currency=currency) == Canon(value=expected)


@pytest.mark.parametrize(
    ("raw", "currency", "reason"),
    [
        ("75.000", None, "ambiguous separator"),
        ("75.000", "EUR", "ambiguous separator"),
        ("1,234", None, "ambiguous separator"),
        ("1,234", "USD", "ambiguous separator"),
        ("1.234", "KWD", "ambiguous separator"),
        ("$1,500", None, "ambiguous separator"),  # "$" includes CLP (no minor unit) and USD
        ("¥1,500", None, "ambiguous separator"),  # JPY or CNY
        ("1,234.567,8", None, "mixed separators"),
        ("1.234 567", None, "mixed separators"),
        ("1.23.4", None, "bad digit grouping"),
        ("1,23,456.00", None, "bad digit grouping"),
        ("12 34", None, "bad digit grouping"),
        ("Rp 5 $", None, "conflicting currency marks"),
        ("abc", None, "not an amount"),
        ("Rp", None, "not an amount"),
        ("12..5", None, "not an amount"),
        ("--5", None, "not an amount"),
        ("1e5", None, "not an amount"),
        (True, None, "not an amount"),
        ([1], None, "not an amount"),
        (float("nan"), None, "not a finite number"),
        (float("inf"), None, "not a finite number"),
        (1e300, None, "out of range"),
        ("9" * 70, None, "too long"),
    ],
)
def test_unreadable_amounts_give_a_reason(raw: object, currency: str | None, reason: str) -> None:
    assert canon_amount(raw, currency=currency) == Canon(error=reason)


@pytest.mark.parametrize("raw", [None, "", "   ", "\u00a0"])
def test_blank_is_empty_not_an_error(raw: object) -> None:
    assert canon_amount(raw).empty


@given(
    cents,
    st.sampled_from(STYLES),
    st.sampled_from(DECORATIONS),
    st.sampled_from(SIGNS),
)
def test_round_trip_through_every_locale_style(
    value: Decimal, style: tuple[str, str], decoration: str, sign: str
) -> None:
    text = decoration.format(printed(value, *style, places=2))
    if value < 0:
        text = sign.format(text)
    assert read(canon_amount(text)) == value


@given(cents)
def test_locale_pairs_agree(value: Decimal) -> None:
    european = printed(value, ".", ",", 2)
    english = printed(value, ",", ".", 2)
    assert canon_amount(european) == canon_amount(english)
    assert read(canon_amount(european)) == abs(value)


@given(
    st.integers(min_value=0, max_value=10**12),
    st.sampled_from([".", ",", " ", "'"]),
    st.sampled_from(
        [("Rp {}", None), ("{} IDR", None), ("¥{}", "JPY"), ("₩{}", None), ("{} đ", None),
         ("{}", "IDR"), ("{}", "VND"), ("{}", "CLP"), ("{} kr", "ISK"), ("{}", "Rp")]
    ),
)
def test_zero_decimal_currencies_read_a_lone_separator_as_grouping(
    value: int, grouping: str, decoration: tuple[str, str | None]
) -> None:
    template, currency = decoration
    text = template.format(printed(Decimal(value), grouping, "", places=0))
    assert read(canon_amount(text, currency=currency)) == value


@given(
    st.integers(min_value=1, max_value=999),
    st.integers(min_value=0, max_value=999),
    st.sampled_from([".", ","]),
    st.sampled_from([None, "EUR", "USD", "RUB", "KWD", "XYZ"]),
    st.sampled_from(["{}", "$ {}", "{} €", "-{}"]),
)
def test_a_lone_separator_before_three_digits_is_never_guessed(
    whole: int, fraction: int, separator: str, currency: str | None, decoration: str
) -> None:
    text = decoration.format(f"{whole}{separator}{fraction:03d}")
    assert canon_amount(text, currency=currency) == Canon(error="ambiguous separator")


amount_alphabet = st.text(alphabet="0123456789.,' -+()$€₽Rrpуб\u00a0\u2009\u2212,-", max_size=24)
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.text()
    | amount_alphabet,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


@given(anything, st.sampled_from([None, "IDR", "EUR", "$", "junk", ""]))
def test_never_raises_and_output_is_canonical_and_stable(raw: object, currency: str | None) -> None:
    canon = canon_amount(raw, currency=currency)
    assert isinstance(canon, Canon)
    assert canon.value is None or canon.error is None
    if canon.value is not None:
        assert CANONICAL.fullmatch(canon.value), canon
        assert canon_amount(Decimal(canon.value)) == canon
    if canon.error is not None:
        assert canon.error.strip()
