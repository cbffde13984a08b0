"""Reading a JSON Schema node as the shapes a value may take there.

Local ``$ref`` (``#/$defs/x``, any JSON pointer into the root) is followed, sibling
keywords kept. ``anyOf``/``oneOf`` branches are combined: the first object form, the
first array form and the first scalar form; ``null`` branches add nothing. ``allOf``
is merged shallowly (properties united). Remote references are not fetched: an
unresolved ``$ref`` is a node that constrains nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

_SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean"})
_CONSTRAINING = frozenset(
    {"type", "properties", "items", "anyOf", "oneOf", "allOf", "enum", "const", "format"}
)
_MAX_REFS = 32


class NodeView(msgspec.Struct, frozen=True):
    """``obj``: the schema of the object form; ``items``: the item schema of the array form;
    ``leaf``: the schema of the scalar form; ``free``: the node constrains nothing, so a
    value's own shape decides how it is walked."""

    obj: dict[str, Any] | None = None
    items: dict[str, Any] | None = None
    leaf: dict[str, Any] | None = None
    free: bool = False

    @property
    def is_leaf(self) -> bool:
        return self.obj is None and self.items is None and not self.free


FREE = NodeView(free=True)


def types_of(node: dict[str, Any]) -> frozenset[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(t for t in declared if isinstance(t, str))
    return frozenset()


def deref(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    for _ in range(_MAX_REFS):
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return _merge_all_of(node, root)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        target = _pointer(root, ref)
        if not isinstance(target, dict):
            return siblings
        node = {**target, **siblings}
    return {}


def view(node: Any, root: dict[str, Any], _depth: int = 0) -> NodeView:
    node = deref(node, root)
    if not _CONSTRAINING & node.keys():
        return FREE
    types = types_of(node)
    obj = node if "object" in types or isinstance(node.get("properties"), dict) else None
    items = None
    if "array" in types or "items" in node:
        raw_items = node.get("items")
        items = deref(raw_items, root) if isinstance(raw_items, dict) else {}
    leaf = node if types & _SCALAR_TYPES or {"enum", "const", "format"} & node.keys() else None
    branches = [b for key in ("anyOf", "oneOf") for b in node.get(key) or [] if _depth < 8]
    for branch in branches:
        sub = view(branch, root, _depth + 1)
        if sub.free:
            continue
        obj = obj if obj is not None else sub.obj
        items = items if items is not None else sub.items
        leaf = leaf if leaf is not None else sub.leaf
    if obj is None and items is None and leaf is None and not types - {"null"}:
        return FREE if not branches else NodeView(leaf=node)
    return NodeView(obj=obj, items=items, leaf=leaf)


def properties_of(obj: dict[str, Any]) -> dict[str, Any]:
    props = obj.get("properties")
    return props if isinstance(props, dict) else {}


def _merge_all_of(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    parts = node.get("allOf")
    if not isinstance(parts, list):
        return node
    merged = {k: v for k, v in node.items() if k != "allOf"}
    props = dict(properties_of(merged))
    for part in parts:
        resolved = deref(part, root)
        props.update(properties_of(resolved))
        for key, value in resolved.items():
            merged.setdefault(key, value)
    if props:
        merged["properties"] = props
    return merged


def _pointer(root: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    target: Any = root
    for part in ref[1:].split("/")[1:] if ref != "#" else []:
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            target = target[int(key)]
        else:
            return None
    return target
