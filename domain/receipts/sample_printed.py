"""Make sampled amounts printed as strings add up (``items_light_v1``, ``receipt_fields_v1``).

These tasks have no consistency checks, but a mock answer whose line price is not count x
unit price, or whose change is not cash minus total, looks broken to a reader. Only strings
the sampler produced are rewritten, in one plain format ("123.45"); the caller keeps the
result only if it still validates against the schema.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_CENT = Decimal("0.01")
_SUMMARY = ("total", "subtotal", "tax", "service", "discount", "cash", "card", "change")


def _read(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value.replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number > 0 else None


def _printed(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def printed_consistent(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its printed amounts in agreement; unchanged when it has none."""
    if isinstance(doc.get("menu"), list):
        return {**doc, "menu": [_menu_line(line) for line in doc["menu"]]}
    if all(isinstance(doc.get(key), str) for key in _SUMMARY):
        return _summary(doc)
    return doc


def _menu_line(line: Any) -> Any:
    if not isinstance(line, dict):
        return line
    count, unit = _read(line.get("cnt")), _read(line.get("unitprice"))
    if count is None or unit is None or not isinstance(line.get("price"), str):
        return line
    line = {**line, "unitprice": _printed(unit), "price": _printed(count * unit)}
    if isinstance(line.get("discountprice"), str):
        # A discount is a small part of the line, never more than the line itself.
        line["discountprice"] = _printed(count * unit / 10)
    return line


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    subtotal = _read(doc["subtotal"])
    if subtotal is None:
        return doc
    tax, service, discount = subtotal / 10, subtotal / 20, subtotal / 50
    total = (subtotal + tax + service - discount).quantize(_CENT, rounding=ROUND_HALF_UP)
    cash = (total / 10).quantize(Decimal(1), rounding=ROUND_CEILING) * 10  # the next round note
    amounts = {"subtotal": subtotal, "tax": tax, "service": service, "discount": discount,
               "total": total, "cash": cash, "card": Decimal(0), "change": cash - total}
    return {**doc, **{key: _printed(value) for key, value in amounts.items()}}
