from __future__ import annotations

import pytest

from domain.evaluation.fields import FieldKind, SchemaLeaf, field_kind, schema_leaves
from tests.unit.evaluation.schemas import task_schema

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}


@pytest.mark.parametrize(
    ("path", "node", "kind"),
    [
        ("total", NULLABLE_STRING, FieldKind.AMOUNT),
        ("items[].unit_price", NULLABLE_NUMBER, FieldKind.AMOUNT),
        ("menu[].discountprice", NULLABLE_STRING, FieldKind.AMOUNT),
        ("tax_lines[].amount", NULLABLE_NUMBER, FieldKind.AMOUNT),
        ("change", NULLABLE_STRING, FieldKind.AMOUNT),
        ("tip", NULLABLE_NUMBER, FieldKind.AMOUNT),
        ("merchant.tax_id", NULLABLE_STRING, FieldKind.TEXT),
        ("items[].quantity", NULLABLE_NUMBER, FieldKind.NUMBER),
        ("count", {"type": "integer"}, FieldKind.NUMBER),
        ("issue_date", {"type": ["string", "null"], "format": "date"}, FieldKind.DATE),
        ("paid", {"type": ["boolean", "null"]}, FieldKind.BOOLEAN),
        ("menu[].cnt", NULLABLE_STRING, FieldKind.TEXT),
        ("note", {}, FieldKind.TEXT),
    ],
)
def test_field_kind(path: str, node: dict, kind: FieldKind) -> None:
    assert field_kind(path, node) is kind


def test_receipt_fields_v1_has_eight_amount_leaves() -> None:
    assert schema_leaves(task_schema("receipt_fields_v1")) == [
        SchemaLeaf(name, FieldKind.AMOUNT)
        for name in ("total", "subtotal", "tax", "service", "discount", "cash", "card", "change")
    ]


def test_items_light_v1_reads_sub_in_its_list_form() -> None:
    paths = [leaf.path for leaf in schema_leaves(task_schema("items_light_v1"))]
    assert paths == [
        "menu[].nm", "menu[].cnt", "menu[].unitprice", "menu[].price",
        "menu[].discountprice", "menu[].num", "menu[].sub[].nm", "menu[].sub[].cnt",
    ]


def test_receipt_v1_follows_refs_into_nested_objects_and_arrays() -> None:
    leaves = {leaf.path: leaf.kind for leaf in schema_leaves(task_schema("receipt_v1"))}
    assert leaves["merchant.tax_id"] is FieldKind.TEXT
    assert leaves["date"] is FieldKind.DATE
    assert leaves["items[].quantity"] is FieldKind.NUMBER
    assert leaves["items[].total"] is FieldKind.AMOUNT
    assert leaves["tax_lines[].rate"] is FieldKind.NUMBER
    assert len(leaves) == 18


def test_invoice_v1_shares_a_def_between_two_parties() -> None:
    paths = [leaf.path for leaf in schema_leaves(task_schema("invoice_v1"))]
    assert {"vendor.name", "customer.name", "vendor.tax_id", "customer.tax_id"} <= set(paths)
    assert {"issue_date", "due_date"} <= {
        leaf.path for leaf in schema_leaves(task_schema("invoice_v1")) if leaf.kind is FieldKind.DATE
    }


def test_one_of_with_null_all_of_and_recursive_refs_terminate() -> None:
    schema = {
        "type": "object",
        "properties": {
            "party": {"oneOf": [{"$ref": "#/$defs/party"}, {"type": "null"}]},
            "node": {"$ref": "#/$defs/node"},
            "extended": {"allOf": [{"$ref": "#/$defs/party"}, {"properties": {"vat": {"type": "string"}}}]},
        },
        "$defs": {
            "party": {"type": "object", "properties": {"name": {"type": "string"}}},
            "node": {"type": "object", "properties": {"label": {"type": "string"}, "child": {"$ref": "#/$defs/node"}}},
        },
    }
    paths = [leaf.path for leaf in schema_leaves(schema)]
    assert paths[0] == "party.name"
    assert "node.label" in paths and "node.child.label" in paths
    assert "extended.name" in paths and "extended.vat" in paths
