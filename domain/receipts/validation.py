"""JSON Schema (draft 2020-12) checks of model output and of caller-supplied schemas.

Issues carry a JSON-Pointer path ("/menu/0/nm", "/" for the root) and a short
message; instance values are truncated so a huge model answer never comes back whole.
"""

from __future__ import annotations

import itertools
import json
from functools import lru_cache
from typing import Any

import msgspec
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from domain.errors import InvalidInputError
from domain.receipts.fast_accept import Check, compile_accept
from domain.receipts.schema_limits import limits_problem, ref_cycle_problem

MAX_ISSUES = 50
_MAX_REPR = 80
_MAX_MESSAGE = 200
# Bounds the work on pathological outputs; issues are sorted after this cut,
# and iteration order is itself deterministic for a given schema and instance.
_MAX_COLLECTED = 1000


class SchemaIssue(msgspec.Struct, frozen=True):
    path: str
    message: str


def json_pointer(parts: Any) -> str:
    """RFC 6901 pointer for a sequence of keys/indexes; the root is "/"."""
    tokens = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(tokens)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _short_message(error: Any) -> str:
    message = str(error.message)
    full = repr(error.instance)
    if len(full) > _MAX_REPR and full in message:
        message = message.replace(full, _short_repr(error.instance))
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


def _sort_key(issue_parts: tuple[Any, ...], message: str) -> tuple[Any, ...]:
    # Indexes sort numerically and before names, so "/menu/2" precedes "/menu/10".
    parts = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in issue_parts)
    return (parts, message)


@lru_cache(maxsize=64)
def _validator_for(canonical_schema: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(canonical_schema))


# id(schema) -> (schema, canonical JSON). The entry holds the schema itself, so its id
# cannot be reused by another object while cached. Schemas are treated as immutable once
# used (task schemas are loaded once; overrides are new dicts).
_KEYS: dict[int, tuple[Any, str]] = {}
_MAX_KEYS = 256


def schema_key(schema: Any) -> str:
    """The schema's canonical JSON (sorted keys, compact), memoised per schema object."""
    hit = _KEYS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    if len(_KEYS) >= _MAX_KEYS:
        _KEYS.clear()
    _KEYS[id(schema)] = (schema, key)
    return key


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A cached validator (format is an annotation, as the 2020-12 default says)."""
    return _validator_for(schema_key(schema))


@lru_cache(maxsize=64)
def _accept_for(canonical_schema: str) -> Check | None:
    return compile_accept(json.loads(canonical_schema))


def validate_output(schema: dict[str, Any], obj: Any) -> list[SchemaIssue]:
    """At most ``MAX_ISSUES`` issues, ordered by path then message; [] when valid."""
    accept = _accept_for(schema_key(schema))
    if accept is not None and accept(obj):
        return []  # certainly valid: the general validator would find nothing
    errors = itertools.islice(validator_for(schema).iter_errors(obj), _MAX_COLLECTED)
    keyed = sorted(
        (_sort_key(tuple(e.absolute_path), msg), json_pointer(e.absolute_path), msg)
        for e in errors
        for msg in [_short_message(e)]
    )
    unique: list[SchemaIssue] = []
    for _, path, message in keyed:
        issue = SchemaIssue(path=path, message=message)
        if not unique or unique[-1] != issue:
            unique.append(issue)
    return unique[:MAX_ISSUES]


def _local_ref_problem(schema: Any, root: dict[str, Any]) -> str | None:
    if isinstance(schema, list):
        return next((p for item in schema if (p := _local_ref_problem(item, root))), None)
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#"):
            return f"only local $ref ('#/...') is supported, got {ref[:80]!r}"
        if resolve_pointer(root, ref) is None:
            return f"$ref {ref[:80]!r} does not resolve inside the schema"
    for key, value in schema.items():
        if key in ("enum", "const", "examples", "default"):
            continue
        if isinstance(value, dict | list) and (problem := _local_ref_problem(value, root)):
            return problem
    return None


def resolve_pointer(root: dict[str, Any], ref: str) -> Any | None:
    """The subschema a local ``#/a/b`` ref points at, or None when it does not resolve."""
    node: Any = root
    pointer = ref[1:]
    if pointer in ("", "/"):
        return root
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def check_schema(schema: Any) -> None:
    """Raise ``InvalidInputError`` unless ``schema`` is a usable extraction schema.

    Usable: a valid draft 2020-12 schema, a JSON object whose root admits an
    object (model output is always an object), and only local ``$ref``s.
    """
    if not isinstance(schema, dict):
        raise InvalidInputError("schema must be a JSON object (draft 2020-12 JSON Schema)")
    if problem := limits_problem(schema):  # first: the checks below walk the schema recursively
        raise InvalidInputError(f"schema is not usable: {problem}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = json_pointer(exc.absolute_path)
        raise InvalidInputError(
            f"schema is not a valid draft 2020-12 JSON Schema at {where}: "
            f"{_short_message(exc)}",
            details={"path": where},
        ) from None
    root_type = schema.get("type")
    types = root_type if isinstance(root_type, list) else [root_type]
    if root_type is not None and "object" not in types:
        raise InvalidInputError("schema root must describe an object (\"type\": \"object\")")
    if problem := _local_ref_problem(schema, schema) or ref_cycle_problem(schema, resolve_pointer):
        raise InvalidInputError(f"schema is not usable: {problem}")
