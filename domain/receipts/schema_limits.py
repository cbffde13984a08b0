"""Bounds on a JSON Schema before anything walks it: a debug ``schema_override`` comes from a
caller, and a schema nested a thousand levels deep, a ``$ref`` that only leads to itself, or a
``minLength`` of half a billion would otherwise crash the validator (recursion) or make a model
(or the mock) produce gigabytes. Checked iteratively, so no input can exhaust the stack here."""

from __future__ import annotations

import json
from typing import Any

MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 32
# What an answer of at most VLLM_MAX_TOKENS_LIMIT tokens could hold, with room to spare.
MAX_MINIMUM = {"minLength": 65_536, "minItems": 4_096, "minProperties": 1_024, "minContains": 4_096}


def limits_problem(schema: Any) -> str | None:
    """Why ``schema`` is too big, too deep or asks for too much; None when it is within bounds."""
    stack: list[tuple[Any, int]] = [(schema, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            return f"it is nested deeper than {MAX_SCHEMA_DEPTH} levels"
        if isinstance(node, dict):
            for key, cap in MAX_MINIMUM.items():
                value = node.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and value > cap:
                    return f"{key} {value} is over {cap}"
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, dict | list))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:  # safe now: the depth is bounded
        return f"it is larger than {MAX_SCHEMA_BYTES} bytes as JSON"
    return None


def ref_cycle_problem(root: dict[str, Any], resolve: Any) -> str | None:
    """A ``$ref`` whose chain of references only leads back to itself (``#/$defs/a`` → ``b`` →
    ``a``) describes nothing; ``resolve(root, ref)`` finds a reference's target."""
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            seen = {id(node)}
            target = resolve(root, ref)
            while isinstance(target, dict) and isinstance(target.get("$ref"), str):
                if id(target) in seen:
                    return f"$ref {ref[:80]!r} only refers back to itself"
                seen.add(id(target))
                target = resolve(root, target["$ref"]) if target["$ref"].startswith("#") else None
        stack.extend(v for k, v in node.items() if k not in ("enum", "const", "examples", "default"))
    return None
