"""Make a sampled receipt or invoice add up, so mock answers pass the consistency checks.

Only values the sampler already produced are rewritten (line totals, subtotal,
tax, a tax label's percentage to its rate, tip, total) and a due date is moved
after the issue date; the caller keeps the result only if it still validates
against the schema.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.receipts.sample_printed import printed_consistent

_CENT = Decimal("0.01")
_PERCENT = re.compile(r"\d+(?:[.,]\d+)?\s*%")
_TIP_PERCENT = Decimal(10)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _money(value: Decimal) -> float:
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def make_consistent(sample: Any) -> Any:
    """A copy of ``sample`` whose amounts agree; unchanged when it is not receipt-shaped."""
    if isinstance(sample, dict) and not isinstance(sample.get("items"), list):
        return printed_consistent(sample)
    if not isinstance(sample, dict):
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
            if isinstance(line, dict):
                line = _labelled_rate(line)
            if isinstance(line, dict) and _number(line.get("amount")):
                rate = _dec(line["rate"]) if _number(line.get("rate")) else Decimal(10)
                line = {**line, "amount": _money(subtotal * rate / 100)}
                tax += _dec(line["amount"])
            tax_lines.append(line)
        doc["tax_lines"] = tax_lines
    tip = Decimal(0)
    if _number(doc.get("tip")):
        # A tip reads like one: a tenth of the subtotal, not a random amount.
        tip = _dec(_money(subtotal * _TIP_PERCENT / 100))
        doc["tip"] = float(tip)
    if _number(doc.get("total")):
        doc["total"] = _money(subtotal + tax + tip)
    return _due_after_issue(doc)


def _labelled_rate(line: dict[str, Any]) -> dict[str, Any]:
    """The label's percentage says the rate («VAT 20%» with rate 20), not another number."""
    name = line.get("name")
    if not isinstance(name, str) or not _PERCENT.search(name):
        return line
    if _number(line.get("rate")):
        return {**line, "name": _PERCENT.sub(f"{_dec(line['rate']).normalize():f}%", name, count=1)}
    return line


def _due_after_issue(doc: dict[str, Any]) -> dict[str, Any]:
    try:
        issued = date.fromisoformat(doc["issue_date"])
        date.fromisoformat(doc["due_date"])
    except (KeyError, TypeError, ValueError):
        return doc
    return {**doc, "due_date": (issued + timedelta(days=30)).isoformat()}
