"""Merge of JSON Schemas for ``allOf`` (and ``$ref`` with siblings), simple cases only.

Used to generate samples, never to validate: the merged schema approximates the
conjunction (bounds tighten, types and enums intersect, properties and required
unite). Anything it cannot combine stays in an ``allOf`` and is caught later,
because every sample is checked against the real schema.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_OF = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_MIN_OF = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")


def _types(schema: dict[str, Any]) -> set[str] | None:
    value = schema.get("type")
    if value is None:
        return None
    return set(value) if isinstance(value, list) else {value}


def _intersect_types(a: set[str] | None, b: set[str] | None) -> list[str] | None:
    if a is None or b is None:
        found = a if b is None else b
        return sorted(found) if found is not None else None
    both = a & b
    # "integer" is a subset of "number".
    if "number" in a and "integer" in b or "integer" in a and "number" in b:
        both.add("integer")
    return sorted(both)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def merge_two(a: Any, b: Any) -> Any:
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    if a is False or b is False or not isinstance(a, dict) or not isinstance(b, dict):
        return False
    merged = dict(a)
    leftovers: list[Any] = list(merged.pop("allOf", []))
    for key, value in b.items():
        if key not in merged:
            merged[key] = value
        elif key == "allOf":
            leftovers.extend(value)
        elif key in _MAX_OF:
            merged[key] = max(merged[key], value)
        elif key in _MIN_OF:
            merged[key] = min(merged[key], value)
        elif key == "type":
            merged["type"] = _intersect_types(_types(a), _types(b))
        elif key == "required":
            merged[key] = sorted(set(merged[key]) | set(value))
        elif key == "enum":
            allowed = {_canon(v) for v in value}
            merged[key] = [v for v in merged[key] if _canon(v) in allowed]
        elif key == "properties":
            props = dict(merged[key])
            for name, sub in value.items():
                props[name] = merge_two(props[name], sub) if name in props else sub
            merged[key] = props
        elif key in ("items", "additionalProperties", "contains"):
            merged[key] = merge_two(merged[key], value)
        elif merged[key] != value:
            leftovers.append({key: value})
    if leftovers:
        merged["allOf"] = leftovers
    return merged


def merge_all(schemas: list[Any]) -> Any:
    merged: Any = True
    for schema in schemas:
        merged = merge_two(merged, schema)
    return merged
