"""The rule "a task prompt names exactly its schema's keys" (SPEC §6.1).

Convention: a prompt mentions a key by writing it in backticks (`total`) or as a
quoted JSON key ("total":). Every such mention must be a property name somewhere
in the schema, and every property name must be mentioned. Backticks are reserved
for keys in task prompts, which keeps the check exact rather than heuristic.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

_BACKTICKED = re.compile(r"`([^`\n]{1,64})`")
_QUOTED_KEY = re.compile(r"\"([^\"\n]{1,64})\"\s*:")

# Keywords whose value is one subschema, a list of them, or a name -> subschema map.
_ONE = ("items", "additionalProperties", "contains", "not", "if", "then", "else",
        "propertyNames", "unevaluatedItems", "unevaluatedProperties")
_MANY = ("prefixItems", "anyOf", "oneOf", "allOf")
_MAP = ("$defs", "definitions", "dependentSchemas", "patternProperties")


class KeyMismatch(msgspec.Struct, frozen=True):
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append("prompt does not name schema keys: " + ", ".join(self.missing))
        if self.unexpected:
            parts.append("prompt names keys absent from the schema: " + ", ".join(self.unexpected))
        return "; ".join(parts) or "prompt names exactly the schema keys"


def schema_keys(schema: Any) -> frozenset[str]:
    """Every property name declared at any depth (including under $defs and combinators)."""
    found: set[str] = set()
    _collect(schema, found)
    return frozenset(found)


def _collect(schema: Any, found: set[str]) -> None:
    if not isinstance(schema, dict):
        return
    properties = schema.get("properties")
    if isinstance(properties, dict):
        found.update(properties)
        for sub in properties.values():
            _collect(sub, found)
    for key in _ONE:
        _collect(schema.get(key), found)
    for key in _MANY:
        subs = schema.get(key)
        if isinstance(subs, list):
            for sub in subs:
                _collect(sub, found)
    for key in _MAP:
        subs = schema.get(key)
        if isinstance(subs, dict):
            for sub in subs.values():
                _collect(sub, found)


def prompt_keys(prompt: str) -> frozenset[str]:
    """Key-like mentions in a prompt: backticked spans and quoted JSON keys."""
    return frozenset(_BACKTICKED.findall(prompt)) | frozenset(_QUOTED_KEY.findall(prompt))


def compare_prompt_keys(prompt: str, schema: Any) -> KeyMismatch:
    declared = schema_keys(schema)
    mentioned = prompt_keys(prompt)
    return KeyMismatch(
        missing=tuple(sorted(declared - mentioned)),
        unexpected=tuple(sorted(mentioned - declared)),
    )
