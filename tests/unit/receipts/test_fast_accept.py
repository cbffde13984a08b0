"""The compiled accept-check never says "valid" where jsonschema finds an error, and on the
supported subset it agrees with jsonschema both ways (enum aside, which is conservative)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from domain.receipts.fast_accept import compile_accept
from domain.receipts.samples import sample_for_schema
from domain.receipts.tasks import load_task_registry
from domain.receipts.validation import validate_output

TASKS = load_task_registry()
TASK_IDS = sorted(TASKS.ids())

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=6),
                         st.sampled_from(["USD", "EUR", "usd", "2024-01-02", "", "1.0", "0"]), st.just(2.0))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutate(value: Any, path: tuple[Any, ...], action: str, replacement: Any) -> Any:
    root = copy.deepcopy(value)
    if not path:
        return replacement if action != "drop" else {}
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "drop" and isinstance(parent, dict):
        del parent[last]
    elif action == "extra" and isinstance(parent, dict):
        parent[f"extra_{last}"] = replacement
    else:
        parent[last] = replacement
    return root


def _task_schema(task_id: str) -> dict[str, Any]:
    return TASKS.get(task_id).json_schema


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_every_task_schema_compiles(task_id: str) -> None:
    assert compile_accept(_task_schema(task_id)) is not None


@pytest.mark.parametrize("task_id", TASK_IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.text(max_size=8), data=st.data())
def test_agrees_with_jsonschema_on_mutated_samples(task_id: str, seed: str, data: st.DataObject) -> None:
    schema = _task_schema(task_id)
    accept, validator = compile_accept(schema), Draft202012Validator(schema)
    assert accept is not None
    sample = sample_for_schema(schema, seed)
    assert accept(sample) and validator.is_valid(sample)
    path = data.draw(st.sampled_from(_paths(sample)))
    action = data.draw(st.sampled_from(["replace", "drop", "extra"]))
    mutated = _mutate(sample, path, action, data.draw(json_values))
    assert accept(mutated) == validator.is_valid(mutated)


SUBSET_SCHEMAS = [
    {"type": "integer"},
    {"type": ["number", "null"]},
    {"type": "object", "properties": {"a": {"type": "string", "pattern": "^[A-Z]{3}$"}}, "required": ["a"],
     "additionalProperties": False},
    {"type": "object", "additionalProperties": {"type": "boolean"}},
    {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
    {"enum": ["a", "b", None]},
    {"$defs": {"n": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/n"}, {"type": "null"}]}}}},
     "$ref": "#/$defs/n"},
    {"properties": {"x": False}},
    True,
    False,
]


@pytest.mark.parametrize("schema", SUBSET_SCHEMAS, ids=range(len(SUBSET_SCHEMAS)))
@settings(max_examples=200, deadline=None)
@given(instance=json_values)
def test_never_accepts_what_jsonschema_rejects(schema: Any, instance: Any) -> None:
    accept = compile_accept(schema)
    assert accept is not None
    valid = Draft202012Validator(schema).is_valid(instance)
    if accept(instance):
        assert valid
    if not (isinstance(schema, dict) and "enum" in schema):
        assert accept(instance) == valid


@pytest.mark.parametrize("schema", [
    {"type": "object", "minProperties": 1},
    {"type": "array", "prefixItems": [{"type": "string"}]},
    {"$ref": "https://example.com/other.json"},
    {"type": "string", "pattern": "("},
    {"type": "decimal"},
])
def test_schemas_outside_the_subset_get_no_fast_check(schema: dict[str, Any]) -> None:
    assert compile_accept(schema) is None


def test_enum_members_that_are_not_strings_fall_back_to_the_full_validator() -> None:
    schema = {"enum": [1, True]}
    accept = compile_accept(schema)
    assert accept is not None and not accept(1) and not accept(True)
    assert validate_output(schema, 1) == [] and validate_output(schema, 1.0) == []
    assert validate_output(schema, 2)[0].path == "/"


def test_invalid_output_still_gets_the_full_issue_list() -> None:
    schema = _task_schema("receipt_v1")
    sample = sample_for_schema(schema, "x")
    broken = {**sample, "currency": "usd", "unexpected": 1}
    issues = validate_output(schema, broken)
    assert {i.path for i in issues} >= {"/currency", "/"}
