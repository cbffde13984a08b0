from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.receipts.checks import Check, run_checks


def receipt(**overrides: object) -> dict:
    data = {
        "date": "2024-03-05",
        "items": [
            {"name": "Tea", "quantity": 2, "unit_price": 3.5, "total": 7.0},
            {"name": "Cake", "quantity": 1, "unit_price": 4.25, "total": 4.25},
        ],
        "subtotal": 11.25,
        "tax_lines": [{"name": "VAT 10%", "rate": 10, "amount": 1.13}],
        "tip": 2,
        "total": 14.38,
    }
    data.update(overrides)
    return data


def invoice(**overrides: object) -> dict:
    data = {
        "issue_date": "2024-01-31", "due_date": "2024-02-29",
        "items": [{"description": "Consulting", "quantity": 10, "unit_price": 95, "total": 950}],
        "subtotal": 950, "tax": 190, "total": 1140,
    }
    data.update(overrides)
    return data


def by_rule(checks: list[Check]) -> dict[str, Check]:
    rules = [c.rule for c in checks]
    assert len(rules) == len(set(rules)), rules
    return {c.rule: c for c in checks}


def test_consistent_receipt_passes_every_rule() -> None:
    checks = by_rule(run_checks("receipt", receipt()))
    assert set(checks) == {"line_totals", "lines_sum_subtotal", "total_sum", "date_valid"}
    assert all(c.ok for c in checks.values()), checks
    assert checks["line_totals"].detail == "2 line(s) checked"
    assert checks["total_sum"].detail == "subtotal 11.25 + tax 1.13 + tip 2 = 14.38 matches total 14.38"


def test_line_mismatch_is_reported_with_the_line_and_the_numbers() -> None:
    items = receipt()["items"]
    items[1] = {**items[1], "total": 5.25}
    checks = by_rule(run_checks("receipt", receipt(items=items)))
    assert not checks["line_totals"].ok
    assert "items/1: 1 x 4.25 = 4.25, printed 5.25" in checks["line_totals"].detail
    assert not checks["lines_sum_subtotal"].ok
    assert checks["total_sum"].ok


def test_receipt_accepts_a_subtotal_that_already_includes_tax() -> None:
    checks = by_rule(run_checks("receipt", receipt(tip=None, total=11.25)))
    assert checks["total_sum"].ok
    assert "tax included" in checks["total_sum"].detail


def test_invoice_total_without_tax_fails() -> None:
    checks = by_rule(run_checks("invoice", invoice(total=950)))
    assert not checks["total_sum"].ok
    assert checks["total_sum"].detail == "subtotal 950 + tax 190 = 1140 differs from total 950"


def test_consistent_invoice_passes_every_rule() -> None:
    checks = by_rule(run_checks("invoice", invoice()))
    assert set(checks) == {"line_totals", "lines_sum_subtotal", "total_sum", "issue_date_valid",
                           "due_date_valid", "due_date_not_before_issue"}
    assert all(c.ok for c in checks.values()), checks


@pytest.mark.parametrize("value", ["2024-02-30", "2023-02-29", "05/03/2024", "2024-3-5", "", "２０２４-０１-０１", 20240305])
def test_unreal_or_non_iso_dates_fail(value: object) -> None:
    checks = by_rule(run_checks("receipt", receipt(date=value)))
    assert checks["date_valid"].ok is False


def test_leap_day_is_a_real_date_and_due_before_issue_fails() -> None:
    checks = by_rule(run_checks("invoice", invoice(issue_date="2024-02-29", due_date="2024-02-01")))
    assert checks["issue_date_valid"].ok and checks["due_date_valid"].ok
    assert not checks["due_date_not_before_issue"].ok


def test_rules_with_missing_inputs_are_left_out() -> None:
    checks = by_rule(run_checks("receipt", receipt(subtotal=None, date=None)))
    assert set(checks) == {"line_totals"}
    items = [{"name": "Tea", "quantity": None, "unit_price": 3.5, "total": 7.0}]
    checks = by_rule(run_checks("receipt", receipt(items=items, subtotal=7.0, tip=None, total=8.13)))
    assert "line_totals" not in checks
    assert checks["lines_sum_subtotal"].ok and checks["total_sum"].ok
    assert run_checks("invoice", {"items": []}) == []


def test_partially_readable_lines_are_counted_in_the_detail() -> None:
    items = [*receipt()["items"], {"name": "Bag", "quantity": 1, "unit_price": None, "total": 0}]
    checks = by_rule(run_checks("receipt", receipt(items=items)))
    assert checks["line_totals"].detail == "2 line(s) checked, 1 skipped (missing values)"


def test_odd_values_never_raise() -> None:
    odd = {
        "items": [None, "x", {"quantity": "two", "unit_price": True, "total": []},
                  {"quantity": "2", "unit_price": "1.5", "total": "3"}, {"quantity": 1e308, "unit_price": 1e308, "total": 1}],
        "subtotal": {"a": 1}, "tax_lines": "VAT", "tip": float("nan"), "total": "1e999999", "date": ["2024-01-01"],
    }
    checks = by_rule(run_checks("receipt", odd))
    assert checks["line_totals"].ok and checks["line_totals"].detail.startswith("1 line(s) checked")
    assert not checks["date_valid"].ok
    assert run_checks("receipt", ["not", "a", "dict"]) == []
    assert run_checks("invoice", {"items": {"a": 1}, "tax": "abc", "subtotal": 1, "total": 1}) == []


def test_discount_and_service_enter_the_total_when_present() -> None:
    data = receipt(tax_lines=[], tip=None, service=1.0, discount=-2.0, total=10.25)
    assert by_rule(run_checks("receipt", data))["total_sum"].ok
    assert by_rule(run_checks("receipt", {**data, "discount": 2.0}))["total_sum"].ok
    assert not by_rule(run_checks("receipt", {**data, "discount": None}))["total_sum"].ok


@pytest.mark.parametrize(
    ("subtotal", "printed", "ok"),
    [(1.00, 1.01, True), (1.00, 1.02, False), (1000, 1004.9, True), (1000, 1006, False)],
)
def test_tolerance_is_one_cent_or_half_a_percent(subtotal: float, printed: float, ok: bool) -> None:
    items = [{"name": "x", "quantity": 1, "unit_price": subtotal, "total": subtotal}]
    data = {"items": items, "subtotal": printed}
    assert by_rule(run_checks("receipt", data))["lines_sum_subtotal"].ok is ok


def test_no_profile_and_unknown_profile() -> None:
    assert run_checks(None, receipt()) == []
    with pytest.raises(ValueError, match="unknown check profile"):
        run_checks("bank_statement", receipt())


cents = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c) / 100)


@st.composite
def consistent_documents(draw):
    profile = draw(st.sampled_from(["receipt", "invoice"]))
    lines = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        quantity = draw(st.integers(min_value=1, max_value=20))
        price = draw(cents)
        lines.append((quantity, price, (quantity * price).quantize(Decimal("0.01"))))
    subtotal = sum((t for _, _, t in lines), Decimal(0))
    tax = draw(st.lists(cents, max_size=3))
    tip = draw(st.none() | cents)
    day = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
    total = subtotal + sum(tax, Decimal(0)) + (tip or 0)
    as_num = float
    if profile == "receipt":
        doc = {"date": day.isoformat(), "subtotal": as_num(subtotal), "total": as_num(total),
               "tip": None if tip is None else as_num(tip),
               "tax_lines": [{"name": "VAT", "rate": None, "amount": as_num(t)} for t in tax],
               "items": [{"name": "x", "quantity": q, "unit_price": as_num(p), "total": as_num(t)}
                         for q, p, t in lines]}
    else:
        total -= tip or 0
        doc = {"issue_date": day.isoformat(), "due_date": day.isoformat(), "subtotal": as_num(subtotal),
               "tax": as_num(sum(tax, Decimal(0))), "total": as_num(total),
               "items": [{"description": "x", "quantity": q, "unit_price": as_num(p), "total": as_num(t)}
                         for q, p, t in lines]}
    return profile, doc


@given(consistent_documents())
def test_consistent_generated_documents_pass_all_checks(case) -> None:
    profile, doc = case
    checks = run_checks(profile, doc)
    assert {"line_totals", "lines_sum_subtotal", "total_sum"} <= {c.rule for c in checks}
    assert [c for c in checks if not c.ok] == []


@given(consistent_documents(), st.data())
def test_changing_one_line_total_breaks_exactly_line_and_sum_rules(case, data) -> None:
    profile, doc = case
    index = data.draw(st.integers(min_value=0, max_value=len(doc["items"]) - 1))
    # Large enough to exceed the tolerance on the line and on the subtotal.
    delta = Decimal(str(doc["subtotal"])) / 50 + 1
    sign = data.draw(st.sampled_from([1, -1]))
    line = doc["items"][index]
    line["total"] = float(Decimal(str(line["total"])) + sign * delta)
    failing = sorted(c.rule for c in run_checks(profile, doc) if not c.ok)
    assert failing == ["line_totals", "lines_sum_subtotal"]
