"""Hypothesis strategies for ground-truth-shaped documents of the shipped tasks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

words = st.text(alphabet="abcdefghKLMN0123456789 -", min_size=1, max_size=10)
text_or_none = st.none() | words
numbers = st.none() | st.integers(0, 10**6) | st.floats(0, 1e6).map(lambda x: round(x, 2))
dates = st.none() | st.dates(date(2000, 1, 1), date(2099, 12, 31)).map(date.isoformat)
printed_amounts = st.none() | st.sampled_from(
    ["Rp 39.000", "39.000", "1.234,56", "1,234.56", "12.50", "(5,00)", "-3", "€ 7,-", "abc"]
)

line_items = st.fixed_dictionaries(
    {"name": text_or_none, "quantity": numbers, "unit_price": numbers, "total": numbers}
)
tax_lines = st.fixed_dictionaries({"name": text_or_none, "rate": numbers, "amount": numbers})
receipts = st.fixed_dictionaries(
    {
        "merchant": st.fixed_dictionaries(
            {"name": text_or_none, "address": text_or_none, "phone": text_or_none, "tax_id": text_or_none}
        ),
        "date": dates,
        "time": st.none() | st.sampled_from(["12:30", "08:05:59"]),
        "currency": st.none() | st.sampled_from(["EUR", "IDR", "USD"]),
        "items": st.lists(line_items, max_size=3),
        "subtotal": numbers,
        "tax_lines": st.lists(tax_lines, max_size=2),
        "tip": numbers,
        "total": numbers,
        "payment_method": st.none() | st.sampled_from(["cash", "card", "other"]),
    }
)
receipt_fields = st.fixed_dictionaries(
    {
        name: printed_amounts
        for name in ("total", "subtotal", "tax", "service", "discount", "cash", "card", "change")
    }
)
sub_items = st.fixed_dictionaries({"nm": text_or_none, "cnt": st.none() | st.sampled_from(["1", "2x"])})
menu_items = st.fixed_dictionaries(
    {
        "nm": text_or_none,
        "cnt": st.none() | st.sampled_from(["1", "2", "0.5 kg"]),
        "unitprice": printed_amounts,
        "price": printed_amounts,
        "discountprice": printed_amounts,
        "num": text_or_none,
        "sub": st.none() | sub_items | st.lists(sub_items, max_size=2),
    }
)
menus = st.fixed_dictionaries({"menu": st.lists(menu_items, max_size=3)})


def receipt_leaves(doc: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """Every (container, key, field path) of a receipt_v1 document's leaves."""
    found = [(doc["merchant"], key, f"merchant.{key}") for key in doc["merchant"]]
    found += [(doc, key, key) for key in doc if key not in ("merchant", "items", "tax_lines")]
    for array in ("items", "tax_lines"):
        found += [(item, key, f"{array}[].{key}") for item in doc[array] for key in item]
    return found


def changed(value: Any, path: str) -> Any:
    """A value different from ``value`` in every mode."""
    if path == "date":
        return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
    if isinstance(value, int | float):
        return value + 1
    return f"{value} Z"


def filled(path: str) -> Any:
    if path == "date":
        return "2026-11-21"
    if path.rsplit(".", 1)[-1] in ("quantity", "unit_price", "total", "subtotal", "tip", "rate", "amount"):
        return 7
    return "Z"

