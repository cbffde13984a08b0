from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.receipts.checks import run_checks
from domain.receipts.samples import sample_for_schema
from domain.receipts.tasks import load_task_registry
from domain.receipts.validation import validate_output

TASKS = load_task_registry().list()


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.task_id)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.text(max_size=20))
def test_shipped_schemas_get_valid_samples_for_any_seed(task, seed: str) -> None:
    sample = sample_for_schema(task.json_schema, seed)
    assert validate_output(task.json_schema, sample) == []
    assert isinstance(sample, dict) and set(sample) == set(task.json_schema["required"])


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.task_id)
def test_same_seed_same_sample_and_seeds_vary(task) -> None:
    assert sample_for_schema(task.json_schema, "r1") == sample_for_schema(task.json_schema, "r1")
    distinct = {repr(sample_for_schema(task.json_schema, f"s{i}")) for i in range(6)}
    assert len(distinct) > 1


def test_samples_look_like_receipts() -> None:
    registry = load_task_registry()
    fields = sample_for_schema(registry.get("receipt_fields_v1").json_schema, "demo")
    assert all(re.fullmatch(r"[0-9][0-9.,]*", v) for v in fields.values()), fields
    receipt = sample_for_schema(registry.get("receipt_v1").json_schema, "demo")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", receipt["date"])
    assert re.fullmatch(r"[A-Z]{3}", receipt["currency"])
    assert receipt["items"] and all(isinstance(i["total"], float | int) for i in receipt["items"])
    menu = sample_for_schema(registry.get("items_light_v1").json_schema, "demo")["menu"]
    assert menu and all(isinstance(i["nm"], str) for i in menu)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^(INV|BILL)-[0-9]{4}$"},
        {"type": "string", "pattern": "^[A-Z]{2}\\d{9}$", "maxLength": 11},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "minLength": 50},
        {"type": "string", "maxLength": 2},
        {"type": "number", "minimum": 0.1, "maximum": 0.2, "multipleOf": 0.01},
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.001},
        {"type": "integer", "exclusiveMinimum": 7, "maximum": 8},
        {"type": "integer", "multipleOf": 7, "minimum": 100},
        {"enum": ["a", 1, None]},
        {"const": {"x": [1]}},
        {"oneOf": [{"type": "number"}, {"type": "integer"}]},
        {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 3}]},
        {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}},
                   {"required": ["a", "b"]}, {"properties": {"b": {"const": True}}}]},
        {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 50},
         "minItems": 5, "uniqueItems": True},
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "items": False},
        {"type": "array", "contains": {"const": "needle"}, "items": {"type": "string"}},
        {"type": "object", "minProperties": 3, "additionalProperties": {"type": "integer"}},
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
         "maxProperties": 1, "required": ["b"]},
        {"$defs": {"node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["children"]}},
         "$ref": "#/$defs/node"},
        {"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "integer"}}},
        {"not": {"type": "string"}},
        True,
        {},
    ],
)
def test_keyword_cases_are_valid(schema) -> None:
    for seed in ("", "a", "b"):
        sample = sample_for_schema(schema, seed)
        assert validate_output(schema, sample) == [], (schema, sample)


NAMES = ["total", "name", "date", "quantity", "currency", "tax_id", "phone", "nm", "x", "unit_price"]
PATTERNS = ["^[A-Z]{3}$", "^\\d+(\\.\\d{2})?$", "^[a-z]+@[a-z]+\\.com$", "^(yes|no)$", "[0-9]"]


@st.composite
def number_schemas(draw):
    integer = draw(st.booleans())
    schema = {"type": "integer" if integer else "number"}
    low = draw(st.none() | st.integers(-1000, 1000))
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        base = low if low is not None else draw(st.integers(-1000, 1000))
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = base + draw(st.integers(20, 5000))
    if draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([2, 5, 3]) if integer else st.sampled_from([0.5, 0.25, 0.01, 2]))
    return schema


@st.composite
def string_schemas(draw):
    kind = draw(st.sampled_from(["plain", "pattern", "format", "enum"]))
    if kind == "pattern":
        return {"type": "string", "pattern": draw(st.sampled_from(PATTERNS))}
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(["date", "date-time", "time", "email", "uuid"]))}
    if kind == "enum":
        return {"type": "string", "enum": draw(st.lists(st.text(max_size=8), min_size=1, max_size=4, unique=True))}
    low = draw(st.integers(0, 12))
    schema = {"type": "string", "minLength": low}
    if draw(st.booleans()):
        schema["maxLength"] = low + draw(st.integers(0, 20))
    return schema


scalars = (
    number_schemas() | string_schemas()
    | st.sampled_from([{"type": "boolean"}, {"type": "null"}, {"type": ["string", "null"]},
                       {"type": ["number", "null"]}, {"const": 3}])
    | st.sampled_from([{"oneOf": [{"type": "string"}, {"type": "integer"}]},
                       {"oneOf": [{"type": "boolean"}, {"type": "null"}]}])
)


def containers(children):
    arrays = st.builds(
        lambda item, low, extra: {"type": "array", "items": item, "minItems": low, "maxItems": low + extra},
        children, st.integers(0, 3), st.integers(0, 3),
    )
    objects = st.dictionaries(st.sampled_from(NAMES), children, max_size=5).flatmap(
        lambda props: st.builds(
            lambda required, closed: {"type": "object", "properties": props, "required": required,
                                      **({"additionalProperties": False} if closed else {})},
            st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([]),
            st.booleans(),
        )
    )
    any_of = st.lists(children, min_size=1, max_size=3).map(lambda subs: {"anyOf": subs})
    return arrays | objects | any_of


generated_schemas = st.recursive(scalars, containers, max_leaves=12)
rooted = generated_schemas.map(
    lambda s: {"type": "object", "properties": {"x": {"$ref": "#/$defs/d"}}, "required": ["x"],
               "$defs": {"d": s}}
)


@settings(max_examples=300, deadline=None)
@given(schema=generated_schemas | rooted, seed=st.text(max_size=8))
def test_generated_schemas_get_valid_samples(schema, seed: str) -> None:
    sample = sample_for_schema(schema, seed)
    assert validate_output(schema, sample) == []


@pytest.mark.parametrize("task", [t for t in TASKS if t.checks], ids=lambda t: t.task_id)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.text(max_size=20))
def test_samples_of_checked_tasks_add_up(task, seed: str) -> None:
    checks = run_checks(task.checks, sample_for_schema(task.json_schema, seed))
    assert {"line_totals", "lines_sum_subtotal", "total_sum"} <= {c.rule for c in checks}
    assert [c for c in checks if not c.ok] == []


def test_inconsistent_amounts_are_kept_when_consistency_would_break_the_schema() -> None:
    schema = {"type": "object", "required": ["items", "subtotal"], "additionalProperties": False,
              "properties": {"subtotal": {"type": "number", "maximum": 0.5},
                             "items": {"type": "array", "minItems": 2, "items": {
                                 "type": "object", "required": ["quantity", "unit_price", "total"],
                                 "properties": {"quantity": {"type": "integer", "minimum": 1},
                                                "unit_price": {"type": "number", "minimum": 1},
                                                "total": {"type": "number"}}}}}}
    sample = sample_for_schema(schema, "x")
    assert validate_output(schema, sample) == []
