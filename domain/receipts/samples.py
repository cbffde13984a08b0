"""Deterministic, schema-valid sample instances (used by the mock inference backend).

``sample_for_schema(schema, seed)`` walks the schema and builds a value that looks
like receipt data; the result is checked against the real schema, and a few
deterministic retries (different random streams) cover the cases the walker only
approximates (``not``, conflicting ``allOf``, lookaround patterns). Same schema and
seed give the same value; a schema nothing can satisfy yields the last attempt.
"""

from __future__ import annotations

import json
import random
from typing import Any

from jsonschema import Draft202012Validator

from domain.receipts.sample_consistency import make_consistent
from domain.receipts.sample_scalars import sample_number, sample_string
from domain.receipts.schema_merge import merge_all, merge_two
from domain.receipts.validation import resolve_pointer, validator_for

_ATTEMPTS = 8
_BRANCH_TRIES = 3
_MAX_DEPTH = 8  # beyond it: optional properties dropped, arrays at minItems, null preferred
_HARD_DEPTH = 3 * _MAX_DEPTH  # beyond it: no value at all (a schema requiring itself has no finite instance)
_KEY_ORDER = ("object", "array", "string", "number", "integer", "boolean", "null")


def sample_for_schema(schema: dict[str, Any], seed: str = "") -> Any:
    validator = validator_for(schema)
    value: Any = None
    for attempt in range(_ATTEMPTS):
        walker = _Walker(schema, validator, random.Random(f"sample|{seed}|{attempt}"))
        value = walker.sample(schema, 0, "", "")
        consistent = make_consistent(value)
        if validator.is_valid(consistent):
            return consistent
        if validator.is_valid(value):
            return value
    return value


class _Walker:
    def __init__(self, root: Any, validator: Draft202012Validator, rng: random.Random) -> None:
        self.root, self.validator, self.rng = root, validator, rng

    def valid(self, schema: Any, value: Any) -> bool:
        return self.validator.evolve(schema=schema).is_valid(value)

    def normalize(self, schema: Any) -> Any:
        """Resolve ``$ref`` and merge ``allOf`` into one schema (approximately)."""
        for _ in range(_MAX_DEPTH):
            if not isinstance(schema, dict):
                return schema
            ref = schema.get("$ref")
            if isinstance(ref, str):
                target = resolve_pointer(self.root, ref) if ref.startswith("#") else None
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = merge_two(target if target is not None else True, rest)
            elif isinstance(schema.get("allOf"), list):
                rest = {k: v for k, v in schema.items() if k != "allOf"}
                parts = [self.normalize(p) for p in schema["allOf"]]
                merged = merge_all([rest, *parts])
                if isinstance(merged, dict) and merged.get("allOf") == schema["allOf"]:
                    break  # nothing more merges; verification decides
                schema = merged
            else:
                return schema
        return {k: v for k, v in schema.items() if k != "allOf"} if isinstance(schema, dict) else schema

    def sample(self, schema: Any, depth: int, name: str, parent: str) -> Any:
        if depth > _HARD_DEPTH:
            return None
        original = schema
        schema = self.normalize(schema)
        if schema is True or schema == {}:
            return f"sample {name}".strip() if depth else {}
        if not isinstance(schema, dict):
            return None
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self._branch(schema, key, original, depth, name, parent)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self._enum(schema, original)
        kind = self._pick_type(schema, depth)
        return self._typed(kind, schema, depth, name, parent)

    def _branch(self, schema: dict[str, Any], key: str, original: Any, depth: int,
                name: str, parent: str) -> Any:
        rest = {k: v for k, v in schema.items() if k != key}
        branches = list(schema[key])
        self.rng.shuffle(branches)
        # Non-null branches first: a mock answer full of nulls tells a tester little.
        branches.sort(key=lambda b: isinstance(b, dict) and b.get("type") == "null")
        value: Any = None
        for branch in branches:
            for _ in range(_BRANCH_TRIES):
                value = self.sample(merge_two(rest, branch), depth + 1, name, parent)
                if self.valid(original, value):
                    return value
        return value

    def _enum(self, schema: dict[str, Any], original: Any) -> Any:
        options = [v for v in schema["enum"] if v is not None] or schema["enum"]
        ok = [v for v in options if self.valid(original, v)]
        return self.rng.choice(ok or options)

    def _pick_type(self, schema: dict[str, Any], depth: int) -> str:
        declared = schema.get("type")
        if isinstance(declared, str):
            return declared
        if isinstance(declared, list) and declared:
            kinds = sorted(declared, key=_KEY_ORDER.index) if set(declared) <= set(_KEY_ORDER) else declared
            if depth > _MAX_DEPTH and "null" in kinds:
                return "null"
            real = [k for k in kinds if k != "null"]
            return self.rng.choice(real) if real else "null"
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            return "object"
        if any(k in schema for k in ("items", "prefixItems", "minItems", "contains")):
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
            return "number"
        excluded = schema.get("not", {}).get("type") if isinstance(schema.get("not"), dict) else None
        excluded = [excluded] if isinstance(excluded, str) else excluded or []
        return next((k for k in ("string", "number", "object", "null") if k not in excluded), "string")

    def _typed(self, kind: str, schema: dict[str, Any], depth: int, name: str, parent: str) -> Any:
        if kind == "object":
            return self._object(schema, depth, name)
        if kind == "array":
            return self._array(schema, depth, name, parent)
        if kind == "string":
            return sample_string(schema, self.rng, name.lower(), parent.lower())
        if kind in ("number", "integer"):
            return sample_number(schema, self.rng, name.lower(), kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def _object(self, schema: dict[str, Any], depth: int, name: str) -> dict[str, Any]:
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        extra_schema = schema.get("additionalProperties", True)
        keys = list(props) if depth <= _MAX_DEPTH else []
        keys += [r for r in required if r not in keys]
        max_props = schema.get("maxProperties")
        if isinstance(max_props, int) and len(keys) > max_props:
            keys = [k for k in keys if k in required] + [k for k in keys if k not in required]
            keys = keys[: max(max_props, len(required))]
        result: dict[str, Any] = {}
        for key in keys:
            sub = props.get(key, extra_schema if extra_schema is not False else True)
            result[key] = self.sample(sub, depth + 1, key, name)
        index = 0
        while len(result) < schema.get("minProperties", 0) and extra_schema is not False:
            index += 1
            result[f"extra_{index}"] = self.sample(extra_schema, depth + 1, "extra", name)
        return result

    def _array(self, schema: dict[str, Any], depth: int, name: str, parent: str) -> list[Any]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", low + 3)
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items", True)
        if items is False:
            high = min(high, len(prefix))
        # One to three items reads like a receipt; past the depth limit, as few as allowed.
        wanted = low if depth > _MAX_DEPTH else self.rng.randint(
            max(low, min(high, 1)), max(low, min(high, low + 2, 3)))
        contains = schema.get("contains")
        result: list[Any] = []
        seen: set[str] = set()
        for index in range(wanted):
            sub = prefix[index] if index < len(prefix) else items
            if contains is not None and index < schema.get("minContains", 1):
                sub = merge_two(sub, contains)
            value = self.sample(sub, depth + 1, name, parent)
            for _ in range(4 if schema.get("uniqueItems") else 0):
                if _canon(value) not in seen:
                    break
                value = self.sample(sub, depth + 1, name, parent)
            seen.add(_canon(value))
            result.append(value)
        return result


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
