"""Comparing one prediction with its ground truth, leaf by leaf, driven by the schema.

* Objects: the schema's properties in order, then keys only the GT (or only the
  prediction) has — compared as text leaves, reported rather than dropped. The GT
  record's top-level ``file`` names its image and is not a field, unless the schema
  declares it.
* Arrays (line items) are lists compared position by position: a GT item with no
  predicted item at its position makes all its leaves pred_missing; an extra
  predicted item makes all its leaves gt_missing. A node allowing an object or an
  array of objects reads a lone object as a list of one.
* A value of the wrong shape (a string where the schema has an object) is a text leaf
  at the node's own path; the other side's structure is still walked.
* Amounts are read with the document's currency: the GT's top-level ``currency``
  when the schema has that property and the GT gives one, else the prediction's,
  else ``default_currency`` (e.g. IDR for a CORD-style task with no currency field).
* ``pred`` None (the item failed) makes every GT value pred_missing.
"""

from __future__ import annotations

from typing import Any

from domain.evaluation.fields import FieldKind, field_kind, join
from domain.evaluation.leaf_compare import compare_leaf
from domain.evaluation.outcomes import DocumentComparison, LeafComparison
from domain.evaluation.schema_nodes import FREE, NodeView, properties_of, view
from domain.evaluation.text_canon import check_str_mode

FILE_KEY = "file"
_MAX_DEPTH = 32


def compare_document(
    pred: dict[str, Any] | None,
    gt: dict[str, Any],
    schema: dict[str, Any],
    *,
    str_mode: str,
    default_currency: str | None = None,
) -> DocumentComparison:
    check_str_mode(str_mode)
    root = view(schema, schema)
    gt_fields = _fields_of(gt, root)
    currency = _currency(gt_fields, pred, root) or default_currency
    walker = _Walker(schema, str_mode, currency)
    walker.node(root, "", gt_fields, pred, unknown=False, depth=0)
    return DocumentComparison(leaves=tuple(walker.leaves), failed=pred is None)


def _fields_of(gt: Any, root: NodeView) -> Any:
    if not isinstance(gt, dict) or root.obj is None or FILE_KEY in properties_of(root.obj):
        return gt
    return {k: v for k, v in gt.items() if k != FILE_KEY}


def _currency(gt: Any, pred: Any, root: NodeView) -> str | None:
    if root.obj is None or "currency" not in properties_of(root.obj):
        return None
    for doc in (gt, pred):
        value = doc.get("currency") if isinstance(doc, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class _Walker:
    def __init__(self, schema: dict[str, Any], str_mode: str, currency: str | None) -> None:
        self.schema = schema
        self.str_mode = str_mode
        self.currency = currency
        self.leaves: list[LeafComparison] = []

    def leaf(self, path: str, kind: FieldKind, gt: Any, pred: Any) -> None:
        self.leaves.append(
            compare_leaf(
                path or "$", kind, gt, pred, str_mode=self.str_mode, currency=self.currency
            )
        )

    def node(
        self, shape: NodeView, path: str, gt: Any, pred: Any, *, unknown: bool, depth: int
    ) -> None:
        if shape.is_leaf or depth > _MAX_DEPTH:
            kind = FieldKind.TEXT if unknown else field_kind(path, shape.leaf or {})
            self.leaf(path, kind, gt, pred)
            return
        gt_obj, gt_list, gt_scalar = _split(gt, shape)
        pred_obj, pred_list, pred_scalar = _split(pred, shape)
        if gt_list is not None or pred_list is not None:
            items = view(shape.items, self.schema) if shape.items is not None else FREE
            for i in range(max(len(gt_list or ()), len(pred_list or ()))):
                self.node(
                    items,
                    path + "[]",
                    _at(gt_list, i),
                    _at(pred_list, i),
                    unknown=unknown or shape.items is None,
                    depth=depth + 1,
                )
        # A fixed object whose both sides are absent is still walked: its leaves are both_missing.
        only_object = shape.obj is not None and shape.items is None
        if gt_obj is not None or pred_obj is not None or only_object:
            self.object(shape, path, gt_obj or {}, pred_obj or {}, unknown=unknown, depth=depth)
        if gt_scalar is not None or pred_scalar is not None:
            kind = FieldKind.TEXT if unknown else field_kind(path, shape.leaf or {})
            self.leaf(path, kind, gt_scalar, pred_scalar)

    def object(
        self, shape: NodeView, path: str, gt: dict, pred: dict, *, unknown: bool, depth: int
    ) -> None:
        props = properties_of(shape.obj) if shape.obj is not None else {}
        keys = list(props) + [k for k in gt if k not in props]
        keys += [k for k in pred if k not in props and k not in gt]
        for key in keys:
            known = key in props and not unknown
            sub = view(props[key], self.schema) if known else FREE
            child = join(path, str(key))
            self.node(sub, child, gt.get(key), pred.get(key), unknown=not known, depth=depth + 1)


def _at(values: list | None, index: int) -> Any:
    return values[index] if values is not None and index < len(values) else None


def _split(value: Any, shape: NodeView) -> tuple[dict | None, list | None, Any]:
    """The object form, the list form and the scalar form of a value at a container node."""
    if value is None:
        return None, None, None
    if isinstance(value, list):
        return (None, value, None) if shape.items is not None or shape.free else (None, None, value)
    if isinstance(value, dict):
        if shape.items is not None and not shape.free:
            return None, [value], None
        return (value, None, None) if shape.obj is not None or shape.free else (None, None, value)
    return None, None, value
