"""A compiled accept-check for the JSON Schema subset the task schemas use.

``validate_output`` runs for every model answer, and jsonschema's general validator costs
~0.3–0.5 ms for a receipt on the benchmark machine. Most answers are valid, so a schema is
compiled once into plain closures that answer one question: "is this instance certainly
valid?". ``True`` means jsonschema would report no error; ``False`` means "not certain",
and the caller runs the full validator for the issue list. Schemas using any keyword
outside the subset get no compiled check at all (``compile_accept`` returns ``None``).

Supported (draft 2020-12 semantics): ``type``, ``properties``, ``required``,
``additionalProperties``, ``items`` (without ``prefixItems``), ``enum`` (string and null
members), ``pattern``, ``anyOf``, local ``$ref`` into the document, boolean schemas, and
annotations (``format`` is an annotation in 2020-12, as in ``validator_for``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "definitions", "title", "description",
                          "examples", "default", "format", "deprecated", "readOnly", "writeOnly"})
_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "pattern",
                       "anyOf", "$ref"})


class _Unsupported(Exception):
    pass


def _is_integer(value: Any) -> bool:
    if type(value) is int:
        return True
    return type(value) is float and value.is_integer()


_TYPES: dict[str, Check] = {
    "null": lambda v: v is None,
    "boolean": lambda v: type(v) is bool,
    "string": lambda v: type(v) is str,
    "integer": _is_integer,
    "number": lambda v: type(v) in (int, float),
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
}


class _Compiler:
    def __init__(self, root: Any) -> None:
        self._root = root
        self._refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda _v: True
        if schema is False:
            return lambda _v: False
        if not isinstance(schema, dict):
            raise _Unsupported
        unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
        if unknown:
            raise _Unsupported
        checks = [self._keyword(name, value, schema) for name, value in schema.items() if name in _KEYWORDS]
        checks = [c for c in checks if c is not None]
        if not checks:
            return lambda _v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(check(v) for check in checks)

    def _keyword(self, name: str, value: Any, schema: dict[str, Any]) -> Check | None:  # noqa: PLR0911
        if name == "type":
            return self._type(value)
        if name == "properties":
            return self._properties(value, schema.get("additionalProperties", True))
        if name == "additionalProperties":  # compiled together with "properties" when both are there
            return None if "properties" in schema else self._properties({}, value)
        if name == "required":
            keys = tuple(value)
            return lambda v: type(v) is not dict or all(k in v for k in keys)
        if name == "items":
            item = self.compile(value)
            return lambda v: type(v) is not list or all(item(x) for x in v)
        if name == "enum":
            return self._enum(value)
        if name == "pattern":
            search = re.compile(value).search
            return lambda v: type(v) is not str or search(v) is not None
        if name == "anyOf":
            options = [self.compile(s) for s in value]
            return lambda v: any(option(v) for option in options)
        return self._ref(value)

    @staticmethod
    def _type(value: Any) -> Check:
        names = [value] if isinstance(value, str) else list(value)
        if any(n not in _TYPES for n in names):
            raise _Unsupported
        tests = [_TYPES[n] for n in names]
        return lambda v: any(test(v) for test in tests)

    def _properties(self, properties: dict[str, Any], additional: Any) -> Check:
        compiled = {key: self.compile(sub) for key, sub in properties.items()}
        extra = self.compile(additional)
        extra_ok_always = additional is True or additional == {}

        def check(v: Any) -> bool:
            if type(v) is not dict:
                return True
            for key, item in v.items():
                sub = compiled.get(key)
                if sub is not None:
                    if not sub(item):
                        return False
                elif not extra_ok_always and not extra(item):
                    return False
            return True

        return check

    @staticmethod
    def _enum(members: list[Any]) -> Check:
        strings = frozenset(m for m in members if isinstance(m, str))
        allow_null = any(m is None for m in members)
        # Other members (numbers, booleans, containers) have JSON-specific equality; leave
        # those instances to the full validator.
        return lambda v: (type(v) is str and v in strings) or (v is None and allow_null)

    def _ref(self, ref: Any) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise _Unsupported
        if ref not in self._refs:
            holder: list[Check] = []
            self._refs[ref] = lambda v: holder[0](v)  # recursion-safe: filled in below
            target: Any = self._root
            for token in ref[2:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or token not in target:
                    raise _Unsupported
                target = target[token]
            holder.append(self.compile(target))
        return self._refs[ref]


def compile_accept(schema: Any) -> Check | None:
    """A function that returns True only for instances valid against ``schema``; None when
    the schema uses keywords outside the supported subset."""
    try:
        return _Compiler(schema).compile(schema)
    except (_Unsupported, re.error, TypeError, AttributeError):
        return None
