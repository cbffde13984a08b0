"""Currencies for reading printed amounts: minor units (ISO 4217) and printed marks.

``MINOR_UNITS`` follows ISO 4217 with one deliberate exception: IDR is listed with
0 minor units because rupiah amounts are printed without cents (ISO still says 2).
A mark that stands for several currencies ("$", "¥", "kr") maps to all of them; its
minor units are known only when they all agree (ADR 0081).
"""

from __future__ import annotations

import re

_ZERO = "BIF CLP DJF GNF IDR ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_TWO = (
    "AED AMD ARS AUD AZN BDT BGN BRL BYN CAD CHF CNY COP CZK DKK DZD EGP EUR GBP GEL "
    "HKD HUF ILS INR KES KGS KZT LKR MAD MDL MXN MYR NGN NOK NPR NZD PEN PHP PKR PLN "
    "QAR RON RSD RUB SAR SEK SGD THB TJS TRY TWD UAH USD UZS ZAR"
)

MINOR_UNITS: dict[str, int] = {
    **{code: 2 for code in _TWO.split()},
    **{code: 3 for code in _THREE.split()},
    **{code: 0 for code in _ZERO.split()},
}

_DOLLARS = "USD CAD AUD NZD SGD HKD MXN ARS CLP COP TWD"
_MARKS: dict[str, str] = {
    "$": _DOLLARS, "us$": "USD", "c$": "CAD", "ca$": "CAD", "a$": "AUD", "au$": "AUD",
    "nz$": "NZD", "s$": "SGD", "hk$": "HKD", "nt$": "TWD", "r$": "BRL", "mx$": "MXN",
    "€": "EUR", "£": "GBP", "¥": "JPY CNY", "円": "JPY", "元": "CNY", "rmb": "CNY",
    "₩": "KRW", "원": "KRW", "₫": "VND", "đ": "VND", "vnđ": "VND",
    "₹": "INR", "₨": "INR PKR LKR NPR", "rs": "INR PKR LKR NPR", "rs.": "INR PKR LKR NPR",
    "rp": "IDR", "rp.": "IDR", "₽": "RUB", "руб": "RUB", "руб.": "RUB", "р": "RUB", "р.": "RUB",
    "₴": "UAH", "грн": "UAH", "грн.": "UAH", "₸": "KZT", "₺": "TRY", "tl": "TRY",
    "zł": "PLN", "kč": "CZK", "ft": "HUF", "kr": "SEK NOK DKK ISK", "kr.": "SEK NOK DKK ISK",
    "fr.": "CHF", "฿": "THB", "rm": "MYR", "₱": "PHP", "₪": "ILS", "лв": "BGN", "лв.": "BGN",
    "lei": "RON", "₾": "GEL", "₦": "NGN", "ksh": "KES",
}

CURRENCY_CODES: dict[str, frozenset[str]] = {
    **{code.casefold(): frozenset({code}) for code in MINOR_UNITS},
    **{mark: frozenset(codes.split()) for mark, codes in _MARKS.items()},
}

# Longest first, so "руб." wins over "р" and "US$" over "$".
_ALTERNATION = "|".join(re.escape(m) for m in sorted(CURRENCY_CODES, key=len, reverse=True))
LEADING_MARK = re.compile(rf"(?:{_ALTERNATION})", re.IGNORECASE)
TRAILING_MARK = re.compile(rf"(?:{_ALTERNATION})$", re.IGNORECASE)


def codes_for(mark: str | None) -> frozenset[str]:
    """ISO codes a printed mark or a code may stand for; empty when unknown."""
    if not mark:
        return frozenset()
    return CURRENCY_CODES.get(mark.strip().casefold(), frozenset())


def minor_units(codes: frozenset[str]) -> int | None:
    """The minor units shared by every candidate code, or None when unknown or mixed."""
    units = {MINOR_UNITS.get(code) for code in codes}
    if len(units) != 1 or None in units:
        return None
    return units.pop()


def resolve_codes(printed: frozenset[str], declared: str | None) -> frozenset[str]:
    """Candidates from the printed mark, narrowed by the document's declared currency.

    The printed mark wins over a conflicting declaration: it is what the receipt shows.
    """
    declared_codes = codes_for(declared)
    if not printed:
        return declared_codes
    narrowed = printed & declared_codes
    return narrowed or printed
