"""Scalar sample values (strings, numbers) that look like receipt data.

The property name the value sits under is a hint: ``total`` gets an amount,
``phone`` a phone number. A hinted value that breaks the schema's own string or
number constraints is dropped in favour of a plain one that meets them.
"""

from __future__ import annotations

import math
import random
import re
from datetime import date, timedelta
from typing import Any

from domain.receipts.regex_strings import string_matching

_AMOUNT_WORDS = ("total", "price", "amount", "tax", "service", "discount", "cash", "card",
                 "change", "tip", "subtotal", "fee", "balance", "paid", "due_amount")
_ITEMS = ("Nasi Goreng", "Iced Latte", "Croissant", "Mineral Water", "Chicken Wings",
          "Green Tea", "Office Chair", "Consulting Hours", "USB-C Cable", "Paper A4 500 sh")
_PARTIES = ("Bistro Central", "Acme Supplies Ltd", "Kopi Kenangan", "Northwind GmbH",
            "Corner Market", "Blue Harbor Cafe")
_STREETS = ("12 Market Street, Springfield", "Jl. Sudirman No. 5, Jakarta",
            "Hauptstrasse 7, 10115 Berlin", "221B Baker Street, London")
_FORMATS = {
    "time": lambda rng: f"{rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}:00Z",
    "date-time": lambda rng: f"{_date(rng)}T{rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}:00Z",
    "email": lambda rng: f"billing{rng.randint(1, 99)}@example.com",
    "uri": lambda rng: f"https://example.com/receipts/{rng.randint(1, 999)}",
    "uuid": lambda rng: f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}",
    "ipv4": lambda rng: f"192.0.2.{rng.randint(1, 254)}",
    "hostname": lambda rng: "shop.example.com",
    "duration": lambda rng: f"P{rng.randint(1, 30)}D",
}


def _date(rng: random.Random) -> str:
    return (date(2024, 1, 1) + timedelta(days=rng.randint(0, 700))).isoformat()


def _amount(rng: random.Random) -> float:
    return rng.randint(50, 50_000) / 100


def _is_amount(name: str) -> bool:
    return any(word in name for word in _AMOUNT_WORDS)


def _hinted_string(name: str, parent: str, rng: random.Random) -> str:
    if "tax_id" in name or name in ("vat", "vat_id", "npwp"):
        return f"DE{rng.randint(100_000_000, 999_999_999)}"
    if parent in ("tax_lines", "taxes") and name in ("name", "label"):
        return f"VAT {rng.choice((5, 7, 10, 20))}%"
    if _is_amount(name):
        value = _amount(rng) * rng.choice((1, 1000))
        return f"{value:,.0f}" if value >= 1000 else f"{value:.2f}"
    if name in ("cnt", "qty", "quantity", "count"):
        return str(rng.randint(1, 3))
    if name == "num" or name.endswith(("_number", "_no", "_code")):
        return f"INV-{rng.randint(2023, 2025)}-{rng.randint(1, 9999):04d}" if "invoice" in name else str(rng.randint(1000, 9999))
    if name in ("name", "nm", "description", "item", "title", "label"):
        pool = _PARTIES if parent in ("merchant", "vendor", "customer", "seller", "buyer") else _ITEMS
        return rng.choice(pool)
    if "address" in name:
        return rng.choice(_STREETS)
    if "phone" in name:
        return f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if "currency" in name:
        return rng.choice(("EUR", "USD", "IDR", "GBP"))
    if "date" in name:
        return _date(rng)
    if "time" in name:
        return f"{rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}"
    return f"sample {name or 'text'} {rng.randint(1, 999)}".strip()


def sample_string(schema: dict[str, Any], rng: random.Random, name: str, parent: str) -> str:
    """A hinted value when it meets the constraints, else a pattern match, else a filler."""
    low = schema.get("minLength", 0)
    high = schema.get("maxLength", max(low, 40))
    pattern = schema.get("pattern")
    fmt = schema.get("format")
    if fmt == "date":
        hinted = _date(rng)
    elif fmt in _FORMATS:
        hinted = _FORMATS[fmt](rng)
    else:
        hinted = _hinted_string(name, parent, rng)
    candidates = [hinted]
    if isinstance(pattern, str):
        candidates.append(string_matching(pattern, rng))
    for text in candidates:
        if text is not None and low <= len(text) <= high and _matches(pattern, text):
            return text
    base = candidates[-1] or hinted or "x"
    return (base * (low // max(len(base), 1) + 1))[: max(low, min(high, len(base)))]


def _matches(pattern: Any, text: str) -> bool:
    if not isinstance(pattern, str):
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _hinted_number(name: str, rng: random.Random, integer: bool) -> float:
    if name in ("quantity", "qty", "cnt", "count"):
        return rng.randint(1, 3)
    if name in ("rate", "tax_rate", "percent"):
        return rng.choice((5, 7, 10, 20))
    if _is_amount(name) or name.startswith("unit"):
        return rng.randint(1, 500) if integer else _amount(rng)
    return rng.randint(1, 100) if integer else rng.randint(100, 10_000) / 100


def is_multiple(value: float, factor: float) -> bool:
    """``multipleOf`` exactly as the jsonschema validator decides it."""
    if isinstance(factor, float):
        quotient = value / factor
        return math.isfinite(quotient) and int(quotient) == quotient
    return value % factor == 0


def sample_number(schema: dict[str, Any], rng: random.Random, name: str, integer: bool) -> float:
    low, high = _bounds(schema, integer)
    wanted = _hinted_number(name, rng, integer)
    if not low <= wanted <= high:
        span_low = low if math.isfinite(low) else high - 100
        span_high = high if math.isfinite(high) else span_low + 100
        wanted = rng.uniform(span_low, span_high)
    factor = schema.get("multipleOf")
    if isinstance(factor, int | float) and factor > 0:
        return _nearest_multiple(wanted, factor, low, high, integer)
    if integer:
        value = math.floor(wanted)
        if value < low:
            value = math.ceil(low)
        if value > high:
            value = math.floor(high)
        return int(value)
    rounded = round(wanted, 2)
    return rounded if low <= rounded <= high else wanted


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float, float]:
    low, high = -math.inf, math.inf
    if isinstance(schema.get("minimum"), int | float):
        low = schema["minimum"]
    if isinstance(schema.get("maximum"), int | float):
        high = schema["maximum"]
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(above, int | float) and above >= low:
        low = math.floor(above) + 1 if integer else math.nextafter(above, math.inf)
    if isinstance(below, int | float) and below <= high:
        high = math.ceil(below) - 1 if integer else math.nextafter(below, -math.inf)
    return low, high


def _nearest_multiple(wanted: float, factor: float, low: float, high: float, integer: bool) -> float:
    center = round(wanted / factor)
    for step in range(200):
        for k in (center + step, center - step):
            value = k * factor
            if isinstance(factor, float):
                value = float(value)
            if integer and value != int(value):
                continue
            if low <= value <= high and is_multiple(value, factor):
                return int(value) if integer else value
    return int(center * factor) if integer else center * factor
