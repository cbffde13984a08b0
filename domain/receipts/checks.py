"""Consistency checks on a parsed receipt or invoice (SPEC §6.1): reported, never fixed.

A rule appears in the result only when its inputs are present and readable; a
missing or unreadable amount means the rule is left out, not passed. Amounts are
compared with the tolerance documented in ``domain.receipts.amounts``.

Rules: ``line_totals`` (quantity x unit_price vs total, each line),
``lines_sum_subtotal``, ``total_sum`` (subtotal + tax + tip/service - discount vs
total), and one ``*_date_valid`` rule per date field (plus ``due_date_not_before_issue``
for invoices). Field names follow the receipt_v1 / invoice_v1 schemas.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec

from domain.receipts.amounts import amounts_agree, show, to_decimal

CHECK_PROFILES = frozenset({"receipt", "invoice"})

_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_MAX_LISTED = 5
_ADDED = ("tip", "service")
_SUBTRACTED = ("discount",)


class Check(msgspec.Struct, frozen=True):
    rule: str
    ok: bool
    detail: str


def run_checks(profile: str | None, parsed: Any) -> list[Check]:
    """Checks for ``profile`` ("receipt", "invoice" or None for none); never raises on data."""
    if profile is None:
        return []
    if profile not in CHECK_PROFILES:
        raise ValueError(f"unknown check profile {profile!r}")
    if not isinstance(parsed, dict):
        return []
    lines = _lines(parsed.get("items"))
    found = [_line_totals(lines), _lines_sum(lines, parsed.get("subtotal"))]
    found.append(_total_sum(parsed, tax_included_allowed=profile == "receipt"))
    if profile == "receipt":
        found.append(_date_valid("date_valid", "date", parsed.get("date")))
    else:
        issue, due = parsed.get("issue_date"), parsed.get("due_date")
        found.append(_date_valid("issue_date_valid", "issue_date", issue))
        found.append(_date_valid("due_date_valid", "due_date", due))
        found.append(_due_not_before_issue(issue, due))
    return [c for c in found if c is not None]


def _lines(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        return []
    return [i if isinstance(i, dict) else {} for i in items]


def _line_totals(lines: list[dict[str, Any]]) -> Check | None:
    checked, mismatches = 0, []
    for index, line in enumerate(lines):
        qty, price = to_decimal(line.get("quantity")), to_decimal(line.get("unit_price"))
        total = to_decimal(line.get("total"))
        if qty is None or price is None or total is None:
            continue
        checked += 1
        expected = qty * price
        if not amounts_agree(expected, total):
            mismatches.append(
                f"items/{index}: {show(qty)} x {show(price)} = {show(expected)}, printed {show(total)}"
            )
    if not checked:
        return None
    skipped = len(lines) - checked
    scope = f"{checked} line(s) checked" + (f", {skipped} skipped (missing values)" if skipped else "")
    if not mismatches:
        return Check("line_totals", True, scope)
    listed = "; ".join(mismatches[:_MAX_LISTED])
    more = f"; and {len(mismatches) - _MAX_LISTED} more" if len(mismatches) > _MAX_LISTED else ""
    return Check("line_totals", False, f"{len(mismatches)} mismatch(es) of {scope}: {listed}{more}")


def _lines_sum(lines: list[dict[str, Any]], subtotal_value: Any) -> Check | None:
    subtotal = to_decimal(subtotal_value)
    totals = [to_decimal(line.get("total")) for line in lines]
    if subtotal is None or not totals or any(t is None for t in totals):
        return None
    lines_sum = sum((t for t in totals if t is not None), Decimal(0))
    ok = amounts_agree(lines_sum, subtotal)
    relation = "matches" if ok else "differs from"
    return Check(
        "lines_sum_subtotal", ok,
        f"sum of {len(totals)} line total(s) {show(lines_sum)} {relation} subtotal {show(subtotal)}",
    )


def _tax(parsed: dict[str, Any]) -> Decimal | None:
    """The ``tax`` amount, else the sum of ``tax_lines[].amount``; 0 when neither is printed."""
    if parsed.get("tax") is not None:
        return to_decimal(parsed["tax"])
    tax_lines = parsed.get("tax_lines")
    if tax_lines is None:
        return Decimal(0)
    if not isinstance(tax_lines, list):
        return None
    amounts = [to_decimal(t.get("amount")) if isinstance(t, dict) else None for t in tax_lines]
    if any(a is None for a in amounts):
        return None
    return sum((a for a in amounts if a is not None), Decimal(0))


def _optional_amount(parsed: dict[str, Any], key: str) -> Decimal | None:
    value = parsed.get(key)
    return Decimal(0) if value is None else to_decimal(value)


def _total_sum(parsed: dict[str, Any], *, tax_included_allowed: bool) -> Check | None:
    subtotal, total, tax = to_decimal(parsed.get("subtotal")), to_decimal(parsed.get("total")), _tax(parsed)
    # A discount is subtracted whether it is printed as 5.00 or -5.00.
    terms = [(k, _optional_amount(parsed, k)) for k in _ADDED]
    terms += [(k, None if (a := _optional_amount(parsed, k)) is None else -abs(a)) for k in _SUBTRACTED]
    if subtotal is None or total is None or tax is None or any(a is None for _, a in terms):
        return None
    extras = sum((a for _, a in terms if a is not None), Decimal(0))
    expected = subtotal + tax + extras
    formula = f"subtotal {show(subtotal)} + tax {show(tax)}" + "".join(
        f" {'-' if a < 0 else '+'} {name} {show(abs(a))}" for name, a in terms if a
    )
    if amounts_agree(expected, total):
        return Check("total_sum", True, f"{formula} = {show(expected)} matches total {show(total)}")
    if tax_included_allowed and tax and amounts_agree(subtotal + extras, total):
        # VAT receipts often print a subtotal that already includes the tax.
        return Check("total_sum", True, f"total {show(total)} matches subtotal with tax included")
    return Check("total_sum", False, f"{formula} = {show(expected)} differs from total {show(total)}")


def _as_date(value: Any) -> date | None:
    match = _ISO_DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _date_valid(rule: str, field: str, value: Any) -> Check | None:
    if value is None:
        return None
    if _as_date(value) is not None:
        return Check(rule, True, f"{field} {value} is a calendar date")
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return Check(rule, False, f"{field} {shown} is not a real calendar date in YYYY-MM-DD form")


def _due_not_before_issue(issue_value: Any, due_value: Any) -> Check | None:
    issue, due = _as_date(issue_value), _as_date(due_value)
    if issue is None or due is None:
        return None
    ok = due >= issue
    relation = "on or after" if ok else "before"
    return Check("due_date_not_before_issue", ok, f"due_date {due} is {relation} issue_date {issue}")
