"""Amounts for consistency checks: lenient reading, Decimal arithmetic, one tolerance.

Tolerance: two amounts agree when they differ by at most 0.01 or by 0.5 % of the
larger magnitude, whichever is more. The absolute part absorbs cent rounding of
quantity x price; the relative part absorbs per-line tax rounding and currencies
rounded to large units (IDR, KRW). Digit misreads below 0.5 % go unnoticed.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

ABSOLUTE_TOLERANCE = Decimal("0.01")
RELATIVE_TOLERANCE = Decimal("0.005")

_MAX_ADJUSTED = 30
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def to_decimal(value: Any) -> Decimal | None:
    """A finite Decimal for ints, floats and plain numeric strings; None for anything else.

    Floats go through ``str`` so 0.1 stays 0.1. Formatted strings ("$1,234.50") are
    not guessed at: a check skips what it cannot read unambiguously.
    """
    number: Decimal | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value)) if math.isfinite(value) else None
    elif isinstance(value, str) and len(value) <= 64 and _PLAIN_NUMBER.match(value.strip()):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    if number is None or not number.is_finite():
        return None
    if number.is_zero():
        return Decimal(0)
    # Magnitudes beyond 1e30 (or below 1e-30) are not amounts; refusing them keeps details short.
    return number if abs(number.adjusted()) <= _MAX_ADJUSTED else None


def tolerance_for(a: Decimal, b: Decimal) -> Decimal:
    return max(ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE * max(abs(a), abs(b)))


def amounts_agree(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) <= tolerance_for(a, b)


def show(value: Decimal) -> str:
    """Compact rendering for details: no exponent, no trailing zeros beyond cents."""
    text = format(value.normalize(), "f")
    if "." in text:
        whole, frac = text.split(".")
        text = whole + "." + frac.ljust(2, "0") if len(frac) <= 2 else text
    return text
