from __future__ import annotations

import pytest

from domain.receipts.prompt_keys import compare_prompt_keys, prompt_keys, schema_keys
from domain.receipts.tasks import load_task_registry

NESTED = {
    "type": "object",
    "properties": {
        "menu": {"type": "array", "items": {"$ref": "#/$defs/item"}},
        "choice": {"anyOf": [{"type": "object", "properties": {"left": {}}}, {"type": "null"}]},
    },
    "$defs": {"item": {"type": "object", "properties": {"nm": {}, "properties": {}}}},
}


def test_schema_keys_walks_items_defs_and_combinators() -> None:
    assert schema_keys(NESTED) == {"menu", "choice", "left", "nm", "properties"}


def test_prompt_keys_reads_backticks_and_quoted_json_keys() -> None:
    prompt = 'Give `total` and `tax`. Example: {"cash": "1.00"}. Say "hello" to nobody.'
    assert prompt_keys(prompt) == {"total", "tax", "cash"}


def test_matching_prompt_is_ok() -> None:
    prompt = "Fill `menu` (each with `nm` and `properties`) and `choice` with `left`."
    result = compare_prompt_keys(prompt, NESTED)
    assert result.ok
    assert result.missing == () and result.unexpected == ()


def test_mismatch_lists_missing_and_unexpected_sorted() -> None:
    result = compare_prompt_keys("Fill `menu`, `price` and `amount`.", NESTED)
    assert not result.ok
    assert result.missing == ("choice", "left", "nm", "properties")
    assert result.unexpected == ("amount", "price")
    assert "does not name schema keys: choice, left" in result.describe()
    assert "absent from the schema: amount, price" in result.describe()


@pytest.mark.parametrize("task", load_task_registry().list(), ids=lambda t: t.task_id)
def test_every_shipped_prompt_names_exactly_its_keys(task) -> None:
    assert prompt_keys(task.prompt) == schema_keys(task.json_schema)
