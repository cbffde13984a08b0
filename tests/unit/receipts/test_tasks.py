from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from domain.errors import ErrorKind, InvalidInputError, NotFoundError
from domain.receipts.errors import TaskDefinitionError, UnknownTaskError
from domain.receipts.tasks import load_task_registry, with_overrides

SHIPPED = ["invoice_v1", "items_light_v1", "receipt_fields_v1", "receipt_v1"]
MINI_SCHEMA = {
    "type": "object",
    "properties": {"amount": {"type": ["string", "null"]}},
    "required": ["amount"],
    "additionalProperties": False,
}


def write_task(root: Path, task_id: str, *, prompt: str = "Return `amount` as printed.",
               schema: object = MINI_SCHEMA, meta: object | None = None) -> Path:
    folder = root / task_id
    folder.mkdir(parents=True)
    (folder / "prompt.txt").write_text(prompt, encoding="utf-8")
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    meta = {"description": f"{task_id} test task", "checks": None} if meta is None else meta
    (folder / "task.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def test_packaged_tasks_load_sorted_with_descriptions_and_profiles() -> None:
    registry = load_task_registry()
    tasks = registry.list()
    assert [t.task_id for t in tasks] == SHIPPED
    assert all(t.description for t in tasks)
    assert {t.task_id: t.checks for t in tasks} == {
        "invoice_v1": "invoice", "items_light_v1": None,
        "receipt_fields_v1": None, "receipt_v1": "receipt",
    }


def test_hashes_are_sha256_of_prompt_and_canonical_schema() -> None:
    task = load_task_registry().get("receipt_fields_v1")
    assert task.prompt_sha256 == hashlib.sha256(task.prompt.encode()).hexdigest()
    canonical = json.dumps(task.json_schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert task.schema_sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    assert task.schema_name == "receipt_fields_v1"


def test_receipt_fields_schema_is_the_spec_shape() -> None:
    schema = load_task_registry().get("receipt_fields_v1").json_schema
    keys = ["total", "subtotal", "tax", "service", "discount", "cash", "card", "change"]
    assert sorted(schema["properties"]) == sorted(keys)
    assert sorted(schema["required"]) == sorted(keys)
    assert schema["additionalProperties"] is False
    assert all(p["type"] == ["string", "null"] for p in schema["properties"].values())


def test_unknown_task_is_not_found_with_available_ids() -> None:
    registry = load_task_registry()
    with pytest.raises(UnknownTaskError) as caught:
        registry.get("nope_v9")
    error = caught.value
    assert isinstance(error, NotFoundError)
    assert error.kind is ErrorKind.NOT_FOUND
    assert error.code == "unknown_task"
    assert error.details == {"available": SHIPPED}


def test_extra_dir_adds_tasks(tmp_path: Path) -> None:
    write_task(tmp_path, "custom_v1")
    (tmp_path / "__pycache__").mkdir()
    registry = load_task_registry(tmp_path)
    assert [t.task_id for t in registry.list()] == sorted([*SHIPPED, "custom_v1"])
    custom = registry.get("custom_v1")
    assert custom.prompt == "Return `amount` as printed."
    assert custom.json_schema == MINI_SCHEMA
    assert "custom_v1" in registry


def test_extra_dir_cannot_redefine_a_packaged_task(tmp_path: Path) -> None:
    write_task(tmp_path, "receipt_v1")
    with pytest.raises(TaskDefinitionError, match="receipt_v1.*defined twice"):
        load_task_registry(tmp_path)


def test_missing_extra_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TaskDefinitionError, match="does not exist"):
        load_task_registry(tmp_path / "absent")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schema": {"type": "object", "properties": {"amount": {"type": "money"}}}}, "not a valid draft 2020-12"),
        ({"schema": {"type": "array"}}, "root must describe an object"),
        ({"prompt": "Return `amount` and `currency`."}, "absent from the schema: currency"),
        ({"prompt": "Return the amount."}, "does not name schema keys: amount"),
        ({"meta": {"description": "x", "checks": "bank"}}, "checks must be one of"),
        ({"meta": {"description": "x", "surprise": 1}}, "task.json"),
        ({"prompt": "   "}, "prompt.txt is empty"),
    ],
)
def test_bad_task_folders_fail_naming_the_task(tmp_path: Path, kwargs: dict, message: str) -> None:
    write_task(tmp_path, "broken_v1", **kwargs)
    with pytest.raises(TaskDefinitionError, match=message) as caught:
        load_task_registry(tmp_path)
    assert "'broken_v1'" in caught.value.message
    assert caught.value.details == {"task_id": "broken_v1"}


def test_missing_file_and_bad_json_are_reported(tmp_path: Path) -> None:
    folder = write_task(tmp_path, "nofile_v1")
    (folder / "task.json").unlink()
    with pytest.raises(TaskDefinitionError, match="'nofile_v1': missing task.json"):
        load_task_registry(tmp_path)
    (folder / "task.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TaskDefinitionError, match="task.json is not valid JSON"):
        load_task_registry(tmp_path)


def test_with_overrides_recomputes_hashes_and_keeps_identity() -> None:
    registry = load_task_registry()
    task = registry.get("receipt_fields_v1")
    new_schema = {"type": "object", "properties": {"total": {"type": "string"}}}
    derived = registry.with_overrides(task, prompt="Only the total.", schema=new_schema)
    assert derived.task_id == task.task_id and derived.checks == task.checks
    assert derived.prompt == "Only the total." and derived.json_schema == new_schema
    assert derived.prompt_sha256 == hashlib.sha256(b"Only the total.").hexdigest()
    assert derived.schema_sha256 != task.schema_sha256
    prompt_only = with_overrides(task, prompt="Other words")
    assert prompt_only.schema_sha256 == task.schema_sha256
    assert prompt_only.prompt_sha256 != task.prompt_sha256


def test_with_overrides_rejects_unusable_schema_and_empty_prompt() -> None:
    task = load_task_registry().get("receipt_v1")
    with pytest.raises(InvalidInputError, match="draft 2020-12"):
        with_overrides(task, schema={"type": "object", "required": "total"})
    with pytest.raises(InvalidInputError, match="empty"):
        with_overrides(task, prompt=" \n")
