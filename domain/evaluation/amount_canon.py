"""Printed amounts to canonical decimal text ("1234.56", "-5", "39000").

Rules, in order (ADR 0081):

* None or a blank string is empty. Booleans, containers and other types are "not an
  amount". Ints and Decimals are taken as they are; floats go through ``str`` so 0.1
  stays 0.1; NaN and infinities are "not a finite number". Magnitudes beyond 1e30 (or
  below 1e-30) are "out of range". Strings longer than 64 characters are "too long".
* Strings are NFKC-normalised first, so NBSP, thin and narrow spaces become plain
  spaces and full-width digits become ASCII. U+2212 (minus) and U+2013 (en dash) are
  minus signs.
* Around the number, in any order: one sign (leading ``-``/``+``, a trailing ``-``, or
  parentheses around the whole amount for a negative), and currency marks or codes
  (``Rp``, ``$``, ``€``, ``₽``, ``руб.``, ``USD`` ... see ``currencies.py``), matched
  case-insensitively. Two negative markers, unknown letters or conflicting currency
  marks make the string "not an amount" / "conflicting currency marks".
* A trailing ``,-``, ``.-``, ``,`` or ``.`` after a digit ("5,-", "Fr. 5.-") means "no
  fraction" and names that character as the decimal separator.
* The number itself is digit groups joined by single separators: ``.`` ``,`` space,
  apostrophe (``'`` or ``’``). Space and apostrophe only ever group thousands.
* Both ``.`` and ``,`` present: the last separator is the decimal one and must occur
  once; the other groups thousands (``1.234,56`` and ``1,234.56`` are both 1234.56).
  Anything else ("1,234.567,8") is "mixed separators".
* One of them, several times: it groups thousands ("1.234.567").
* One of them, once, after space/apostrophe grouping: decimal ("1 234,5"). Before
  space/apostrophe grouping: "mixed separators".
* One of them, once, alone: decimal unless followed by exactly three digits. With
  exactly three digits it is still decimal when the integer part starts with 0
  ("0.500") or is longer than three digits ("1234.567") — a thousands group can be
  neither. Otherwise it groups thousands only when the currency (printed, else the
  ``currency`` argument) has no minor unit (IDR, JPY, KRW, VND, CLP, ISK ...): ``Rp
  39.000`` and ``75.000`` with IDR are 39000 and 75000. Without such currency it is
  never guessed: "ambiguous separator".
* Thousands grouping must be well formed: a first group of 1-3 digits not starting
  with 0, then groups of exactly 3, else "bad digit grouping" (Indian lakh grouping
  "1,23,456" is not read).
* Output: no exponent, no trailing fractional zeros, "-0" is "0".
"""

from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.evaluation.canon_value import EMPTY, Canon, fail, ok
from domain.evaluation.currencies import (
    LEADING_MARK,
    TRAILING_MARK,
    codes_for,
    minor_units,
    resolve_codes,
)

NOT_AN_AMOUNT = "not an amount"
AMBIGUOUS = "ambiguous separator"
MIXED = "mixed separators"
BAD_GROUPING = "bad digit grouping"
CONFLICTING_MARKS = "conflicting currency marks"
NOT_FINITE = "not a finite number"
OUT_OF_RANGE = "out of range"
TOO_LONG = "too long"

_MAX_CHARS = 64
_MAX_ADJUSTED = 30
_GROUPING = frozenset(" '’")
_ZERO_FRACTION = re.compile(r"(?<=\d)([.,])-?$")
_BODY = re.compile(r"[\d.,' ’]+")
_SPLIT = re.compile(r"([.,' ’])")
_GROUP = re.compile(r"[1-9]\d{0,2}")


def canon_amount(raw: Any, *, currency: str | None = None) -> Canon:
    if raw is None:
        return EMPTY
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        return fail(NOT_AN_AMOUNT)
    if isinstance(raw, float) and not math.isfinite(raw):
        return fail(NOT_FINITE)
    if isinstance(raw, str):
        return _printed(raw, currency)
    return _render(Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw))


def _render(number: Decimal) -> Canon:
    if not number.is_finite():
        return fail(NOT_FINITE)
    if number.is_zero():
        return ok("0")
    if abs(number.adjusted()) > _MAX_ADJUSTED:
        return fail(OUT_OF_RANGE)
    return ok(format(number.normalize(), "f"))


def _printed(raw: str, currency: str | None) -> Canon:
    text = unicodedata.normalize("NFKC", raw).replace("\u2212", "-").replace("\u2013", "-")
    text = text.strip()
    if not text:
        return EMPTY
    if len(text) > _MAX_CHARS:
        return fail(TOO_LONG)
    peeled = _peel(text)
    if isinstance(peeled, Canon):
        return peeled
    body, negative, printed, decimal_char = peeled
    codes = resolve_codes(printed, currency)
    digits = _number(body, decimal_char, minor_units(codes))
    if isinstance(digits, Canon):
        return digits
    try:
        number = Decimal(digits)
    except InvalidOperation:
        return fail(NOT_AN_AMOUNT)
    return _render(-number if negative else number)


def _peel(text: str) -> Canon | tuple[str, bool, frozenset[str], str | None]:
    """Strip signs, currency marks and a "no fraction" suffix from around the number."""
    negatives = 0
    marks: list[frozenset[str]] = []
    decimal_char: str | None = None
    while True:
        if text[:1] in ("-", "+"):
            negatives += text[0] == "-"
            text = text[1:]
        elif text[:1] == "(" and text[-1:] == ")":
            negatives += 1
            text = text[1:-1]
        elif (lead := LEADING_MARK.match(text)) and lead.end() > 0:
            marks.append(codes_for(lead.group()))
            text = text[lead.end() :]
        elif (trail := TRAILING_MARK.search(text)) and trail.start() > 0:
            marks.append(codes_for(trail.group()))
            text = text[: trail.start()]
        elif decimal_char is None and (zero := _ZERO_FRACTION.search(text)):
            decimal_char = zero.group(1)
            text = text[: zero.start()]
        elif text[-1:] == "-":
            negatives += 1
            text = text[:-1]
        else:
            break
        text = text.strip()
        if not text:
            return fail(NOT_AN_AMOUNT)
    if negatives > 1 or not _BODY.fullmatch(text):
        return fail(NOT_AN_AMOUNT)
    printed = frozenset[str]()
    for codes in marks:
        printed = codes if not printed else printed & codes
        if not printed:
            return fail(CONFLICTING_MARKS)
    return text, negatives == 1, printed, decimal_char


def _number(body: str, decimal_char: str | None, minor: int | None) -> str | Canon:
    """Plain "123.45" digits from a printed body, or the reason it cannot be read."""
    parts = _SPLIT.split(body)
    groups, seps = parts[0::2], parts[1::2]
    if groups[0] == "" and len(seps) == 1 and seps[0] in ".," and groups[1]:
        return "0." + groups[1]
    if "" in groups:
        return fail(NOT_AN_AMOUNT)
    if decimal_char is not None:
        if decimal_char in seps:
            return fail(MIXED)
        return _grouped(groups, seps)
    marks = [s for s in seps if s in ".,"]
    if not marks:
        return _grouped(groups, seps)
    if len(set(marks)) == 2 or seps.count(marks[0]) == 1:
        if seps[-1] not in ".," or seps.count(seps[-1]) != 1:
            return fail(MIXED)
        whole, fraction = groups[:-1], groups[-1]
        if len(seps) == 1 and len(fraction) == 3 and _could_group(whole[0]):
            if minor != 0:
                return fail(AMBIGUOUS)
            return whole[0] + fraction
        integer = _grouped(whole, seps[:-1])
        return integer if isinstance(integer, Canon) else integer + "." + fraction
    return _grouped(groups, seps)


def _could_group(first: str) -> bool:
    return bool(_GROUP.fullmatch(first))


def _grouped(groups: list[str], seps: list[str]) -> str | Canon:
    """Digits joined by one thousands separator, checked for well-formed groups."""
    if not seps:
        return groups[0]
    if len(set(seps)) != 1:
        return fail(MIXED)
    if not _GROUP.fullmatch(groups[0]) or any(len(g) != 3 for g in groups[1:]):
        return fail(BAD_GROUPING)
    return "".join(groups)
