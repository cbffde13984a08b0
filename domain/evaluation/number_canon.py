"""Plain numbers (quantities, rates) to canonical decimal text, compared numerically."""

from __future__ import annotations

from typing import Any

from domain.evaluation.canon_value import EMPTY, Canon, fail, ok
from domain.receipts.amounts import to_decimal

NOT_A_NUMBER = "not a number"


def canon_number(raw: Any) -> Canon:
    """Ints, floats and plain numeric strings ("2", "0.50", "1e3"); nothing formatted.

    Reuses the checks' lenient reader: floats go through ``str``, non-finite values and
    magnitudes beyond 1e30 are refused. ``2``, ``2.0`` and ``"2.00"`` are all "2".
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return EMPTY
    number = to_decimal(raw)
    if number is None:
        return fail(NOT_A_NUMBER)
    return ok("0" if number.is_zero() else format(number.normalize(), "f"))
