"""Schema-driven leaf discovery: which fields a task has and how each is compared.

Field paths are generic: ``a.b`` for objects, ``items[].name`` for arrays (indices
dropped). A node that allows both an object and an array of objects (``sub`` in
``items_light_v1``) is listed, and compared, in its array form: ``menu[].sub[].nm``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from domain.evaluation.schema_nodes import properties_of, types_of, view

AMOUNT_NAMES = frozenset(
    {
        "total", "subtotal", "tax", "service", "discount", "cash", "card", "change",
        "price", "unitprice", "discountprice", "amount", "tip",
    }
)
_MAX_DEPTH = 16


class FieldKind(StrEnum):
    AMOUNT = "amount"
    DATE = "date"
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"


class SchemaLeaf(msgspec.Struct, frozen=True):
    path: str
    kind: FieldKind


def field_name(path: str) -> str:
    """The last segment of a field path, without ``[]``: ``menu[].unitprice`` → ``unitprice``."""
    return path.rsplit(".", 1)[-1].replace("[]", "")


def is_amount_name(name: str) -> bool:
    """``total``, ``unit_price``, ``tax_amount``, ``discountprice`` — not ``tax_id``."""
    words = name.casefold().replace("-", "_").split("_")
    return "".join(words) in AMOUNT_NAMES or words[-1] in AMOUNT_NAMES


def field_kind(path: str, schema_node: dict[str, Any]) -> FieldKind:
    """``format: date`` → date; an amount name → amount; numeric types → number;
    boolean (only) → boolean; anything else → text."""
    types = types_of(schema_node) - {"null"}
    if schema_node.get("format") == "date":
        return FieldKind.DATE
    if types == {"boolean"}:
        return FieldKind.BOOLEAN
    if is_amount_name(field_name(path)):
        return FieldKind.AMOUNT
    if types & {"number", "integer"}:
        return FieldKind.NUMBER
    return FieldKind.TEXT


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def schema_leaves(schema: dict[str, Any]) -> list[SchemaLeaf]:
    """Every leaf path of a schema, in declaration order."""
    leaves: list[SchemaLeaf] = []
    _walk(schema, schema, "", leaves, 0)
    return leaves


def _walk(node: Any, root: dict[str, Any], path: str, out: list[SchemaLeaf], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    shape = view(node, root)
    if shape.items is not None:
        _walk(shape.items, root, path + "[]", out, depth + 1)
    elif shape.obj is not None:
        for key, sub in properties_of(shape.obj).items():
            _walk(sub, root, join(path, key), out, depth + 1)
    elif not shape.free or path:
        out.append(SchemaLeaf(path or "$", field_kind(path, shape.leaf or {})))
