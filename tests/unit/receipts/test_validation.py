from __future__ import annotations

import pytest

from domain.errors import InvalidInputError
from domain.receipts.tasks import load_task_registry
from domain.receipts.validation import (
    MAX_ISSUES,
    SchemaIssue,
    check_schema,
    json_pointer,
    validate_output,
)

ITEMS_LIGHT = load_task_registry().get("items_light_v1").json_schema
RECEIPT_FIELDS = load_task_registry().get("receipt_fields_v1").json_schema
FIELDS = ["total", "subtotal", "tax", "service", "discount", "cash", "card", "change"]


def menu_item(**overrides: object) -> dict:
    item = {"nm": "Tea", "cnt": "1", "unitprice": "5.000", "price": "5.000",
            "discountprice": None, "num": None, "sub": None}
    item.update(overrides)
    return item


def test_valid_output_has_no_issues() -> None:
    sub = [{"nm": "Ice", "cnt": "1"}, {"nm": "Sugar", "cnt": None}]
    assert validate_output(ITEMS_LIGHT, {"menu": [menu_item(), menu_item(sub=sub)]}) == []
    assert validate_output(ITEMS_LIGHT, {"menu": [menu_item(sub={"nm": "Ice", "cnt": "2"})]}) == []


def test_paths_are_json_pointers_into_the_instance() -> None:
    issues = validate_output(ITEMS_LIGHT, {"menu": [menu_item(), menu_item(nm=5)]})
    assert issues == [SchemaIssue(path="/menu/1/nm", message="5 is not of type 'string', 'null'")]


def test_missing_key_and_extra_key_are_reported_at_the_object() -> None:
    output = {k: None for k in FIELDS if k != "cash"} | {"tip": "1"}
    issues = validate_output(RECEIPT_FIELDS, output)
    assert [i.path for i in issues] == ["/", "/"]
    messages = sorted(i.message for i in issues)
    assert "'cash' is a required property" in messages
    assert any("Additional properties are not allowed ('tip' was unexpected)" in m for m in messages)


def test_issues_are_sorted_with_numeric_indexes() -> None:
    menu = [menu_item(nm=1 if i in (2, 10) else "x") for i in range(12)]
    issues = validate_output(ITEMS_LIGHT, {"menu": menu})
    assert [i.path for i in issues] == ["/menu/2/nm", "/menu/10/nm"]


def test_at_most_fifty_issues_deterministically() -> None:
    menu = [menu_item(nm=i) for i in range(80)]
    first = validate_output(ITEMS_LIGHT, {"menu": menu})
    assert len(first) == MAX_ISSUES
    assert first == validate_output(ITEMS_LIGHT, {"menu": menu})
    assert first[0].path == "/menu/0/nm" and first[-1].path == "/menu/49/nm"


def test_long_instances_are_truncated_in_messages() -> None:
    issues = validate_output(RECEIPT_FIELDS, dict.fromkeys(FIELDS) | {"tax": ["9" * 5000]})
    assert len(issues) == 1
    assert issues[0].path == "/tax"
    assert len(issues[0].message) < 200
    assert "..." in issues[0].message


def test_json_pointer_escapes_and_root() -> None:
    assert json_pointer([]) == "/"
    assert json_pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"


@pytest.mark.parametrize("task", load_task_registry().list(), ids=lambda t: t.task_id)
def test_shipped_schemas_pass_check_schema(task) -> None:
    check_schema(task.json_schema)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], "must be a JSON object"),
        ({"type": "objekt"}, "not a valid draft 2020-12 JSON Schema at /type"),
        ({"type": "object", "properties": {"a": {"minLength": -1}}}, "at /properties/a/minLength"),
        ({"type": "string"}, "root must describe an object"),
        ({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}, "only local \\$ref"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "does not resolve"),
    ],
)
def test_check_schema_rejects_unusable_schemas(schema: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_schema(schema)


def test_check_schema_accepts_type_lists_and_local_refs() -> None:
    check_schema({"type": ["object", "null"], "properties": {"a": {"$ref": "#/$defs/a"}},
                  "$defs": {"a": {"type": "integer"}}})
