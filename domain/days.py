"""Calendar days named by clients (SPEC §6.3 ``batch_date``, §8 ``?date=``): only ``YYYY-MM-DD``.

``strptime("%Y-%m-%d")`` accepts ``2026-1-1`` and a regex checked with ``$`` lets a trailing
newline through, so both a lenient form and a non-day (``2026-02-30``) could reach an index
lookup or a storage prefix. One rule decides instead: exactly four, two and two ASCII digits
that name a real day of the proleptic Gregorian calendar.
"""

from __future__ import annotations

import re
from datetime import date

from domain.errors import InvalidInputError

DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"  # the shape, as documented in the OpenAPI schema
DAY_RULE = "must be a calendar day written YYYY-MM-DD"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_day(text: str) -> bool:
    if _DAY.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_day(value: str, name: str = "date") -> str:
    """``value`` when it names a day, else a 400 ``bad_request`` naming the field."""
    if not is_day(value):
        raise InvalidInputError(f"{name} {DAY_RULE}", details={"field": name})
    return value
