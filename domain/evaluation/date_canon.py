"""Printed dates to ISO ``YYYY-MM-DD``.

Rules (ADR 0081):

* None or a blank string is empty; non-strings are "not a date". Strings are
  NFKC-normalised, trimmed and casefolded; a trailing time (``14:35``, ``14:35:07``,
  after a space, ``T`` or a comma) and a trailing Russian ``г.``/``года`` are dropped.
* Year first, always year-month-day: ``2026-11-21``, ``2026/11/21``, ``2026.11.21``.
* Numeric ``A.B.Y``, ``A/B/Y`` and ``A-B-Y`` are day-first (``21.11.2026``): the
  convention on receipts outside North America. Only when B > 12 and A <= 12 is it
  month-first (``11/21/2026``). ``03/04/05`` is therefore 3 April 2005 — a guess by
  policy, not by evidence, and the same guess every time.
* Two-digit years are 20YY (receipts are recent); three-digit years are refused.
* Month names, English or Russian, full or abbreviated, any case, with or without a
  trailing dot: ``21 Nov 2026``, ``21-Nov-26``, ``Nov 21, 2026``, ``21 ноября 2026``,
  ``21 нояб. 2026 г.``.
* A shape that matches but names no calendar day (``31.02.2026``, ``13/13/2026``) is
  "not a real date"; any other string is "not a date".
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from domain.evaluation.canon_value import EMPTY, Canon, fail, ok

NOT_A_DATE = "not a date"
NOT_REAL = "not a real date"

_ENGLISH = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)
_RUSSIAN = (
    ("январь", "января", "янв"), ("февраль", "февраля", "фев", "февр"),
    ("март", "марта", "мар"), ("апрель", "апреля", "апр"), ("май", "мая"),
    ("июнь", "июня", "июн"), ("июль", "июля", "июл"), ("август", "августа", "авг"),
    ("сентябрь", "сентября", "сен", "сент"), ("октябрь", "октября", "окт"),
    ("ноябрь", "ноября", "ноя", "нояб"), ("декабрь", "декабря", "дек"),
)
MONTHS: dict[str, int] = {
    **{name: n for n, name in enumerate(_ENGLISH, 1)},
    **{name[:3]: n for n, name in enumerate(_ENGLISH, 1)},
    "sept": 9,
    **{form: n for n, forms in enumerate(_RUSSIAN, 1) for form in forms},
}

_TIME = re.compile(r"(?:[ t,]+)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?$")
_YEAR_WORD = re.compile(r"\s*(?:г\.?|года)$")
_YEAR_FIRST = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_NUMERIC = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{2}|\d{4})")
_DAY_MONTH = re.compile(r"(\d{1,2})[-\s./]*([^\W\d_]+)\.?[-\s./,]*(\d{2}|\d{4})")
_MONTH_DAY = re.compile(r"([^\W\d_]+)\.?\s*(\d{1,2})(?:st|nd|rd|th)?,?\s*(\d{4})")


def canon_date(raw: Any) -> Canon:
    if raw is None:
        return EMPTY
    if not isinstance(raw, str):
        return fail(NOT_A_DATE)
    text = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not text:
        return EMPTY
    if len(text) > 64:
        return fail(NOT_A_DATE)
    text = _YEAR_WORD.sub("", _TIME.sub("", text)).strip()
    if match := _YEAR_FIRST.fullmatch(text):
        year, month, day = int(match[1]), int(match[3]), int(match[4])
        return _real(year, month, day)
    if match := _NUMERIC.fullmatch(text):
        first, second = int(match[1]), int(match[3])
        day, month = (second, first) if second > 12 and first <= 12 else (first, second)
        return _real(_year(match[4]), month, day)
    if (match := _DAY_MONTH.fullmatch(text)) and match[2] in MONTHS:
        return _real(_year(match[3]), MONTHS[match[2]], int(match[1]))
    if (match := _MONTH_DAY.fullmatch(text)) and match[1] in MONTHS:
        return _real(int(match[3]), MONTHS[match[1]], int(match[2]))
    return fail(NOT_A_DATE)


def _year(text: str) -> int:
    return 2000 + int(text) if len(text) == 2 else int(text)


def _real(year: int, month: int, day: int) -> Canon:
    try:
        return ok(date(year, month, day).isoformat())
    except ValueError:
        return fail(NOT_REAL)
