"""Make a sampled receipt or invoice add up, so mock answers pass the consistency checks.

Only numbers the sampler already produced are rewritten (line totals, subtotal,
tax, total) and a due date is moved after the issue date; the caller keeps the
result only if it still validates against the schema.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

_CENT = Decimal("0.01")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _money(value: Decimal) -> float:
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def make_consistent(sample: Any) -> Any:
    """A copy of ``sample`` whose amounts agree; unchanged when it is not receipt-shaped."""
    if not isinstance(sample, dict) or not isinstance(sample.get("items"), list):
        return sample
    doc = dict(sample)
    lines = []
    for item in doc["items"]:
        if isinstance(item, dict) and all(_number(item.get(k)) for k in ("quantity", "unit_price", "total")):
            item = {**item, "total": _money(_dec(item["quantity"]) * _dec(item["unit_price"]))}
        lines.append(item)
    doc["items"] = lines
    totals = [i.get("total") for i in lines if isinstance(i, dict)]
    if not _number(doc.get("subtotal")) or not all(_number(t) for t in totals):
        return doc
    subtotal = sum((_dec(t) for t in totals), Decimal(0))
    doc["subtotal"] = _money(subtotal)
    tax = Decimal(0)
    if _number(doc.get("tax")):
        tax = _dec(_money(subtotal / 10))
        doc["tax"] = float(tax)
    elif isinstance(doc.get("tax_lines"), list):
        tax_lines = []
        for line in doc["tax_lines"]:
            if isinstance(line, dict) and _number(line.get("amount")):
                rate = _dec(line["rate"]) if _number(line.get("rate")) else Decimal(10)
                line = {**line, "amount": _money(subtotal * rate / 100)}
                tax += _dec(line["amount"])
            tax_lines.append(line)
        doc["tax_lines"] = tax_lines
    tip = _dec(doc["tip"]) if _number(doc.get("tip")) else Decimal(0)
    if _number(doc.get("total")):
        doc["total"] = _money(subtotal + tax + tip)
    return _due_after_issue(doc)


def _due_after_issue(doc: dict[str, Any]) -> dict[str, Any]:
    try:
        issued = date.fromisoformat(doc["issue_date"])
        date.fromisoformat(doc["due_date"])
    except (KeyError, TypeError, ValueError):
        return doc
    return {**doc, "due_date": (issued + timedelta(days=30)).isoformat()}
