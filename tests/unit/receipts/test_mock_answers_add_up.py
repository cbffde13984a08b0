"""Every mock answer, for every task in the registry, passes the service's own checks (issue 14).

A newcomer's first extract runs on the mock; «VAT 7%» with rate 5, or a line price that is not
count x unit price, reads as a broken service rather than a sample.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from adapters.inference.mock import POOL_SIZE, MockInferenceClient
from application.ports.inference import InferenceRequest
from domain.receipts.amounts import amounts_agree
from domain.receipts.checks import run_checks
from domain.receipts.tasks import Task, load_task_registry
from domain.receipts.validation import validate_output

TASKS = load_task_registry().list()
# Request ids hash onto the pool; many more ids than slots reach every slot.
REQUEST_IDS = [f"req_{n}" for n in range(POOL_SIZE * 8)]


async def mock_answers(task: Task) -> list[Any]:
    client = MockInferenceClient()
    answers = []
    for request_id in REQUEST_IDS:
        outcome = await client.complete(InferenceRequest(
            request_id=request_id, image=b"", mime_type="image/png", prompt=task.prompt,
            schema_name=task.schema_name, json_schema=task.json_schema, temperature=0.0,
            max_tokens=4096))
        assert outcome.failure is None and outcome.text is not None
        answers.append(json.loads(outcome.text))
    return answers


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.task_id)
async def test_mock_answers_pass_the_task_checks(task: Task) -> None:
    for answer in await mock_answers(task):
        assert validate_output(task.json_schema, answer) == []
        failed = [c for c in run_checks(task.checks, answer) if not c.ok]
        assert failed == [], (answer, failed)


async def test_mock_receipt_tax_label_names_its_rate() -> None:
    task = load_task_registry().get("receipt_v1")
    lines = [line for answer in await mock_answers(task) for line in answer["tax_lines"]]
    labelled = [line for line in lines if re.search(r"\d+%", line["name"] or "")]
    assert labelled
    for line in labelled:
        assert re.search(r"(\d+)%", line["name"])[1] == str(line["rate"]), line  # type: ignore[index]


async def test_mock_printed_amounts_add_up() -> None:
    registry = load_task_registry()
    for answer in await mock_answers(registry.get("items_light_v1")):
        for line in answer["menu"]:
            if line["price"] and line["cnt"] and line["unitprice"]:
                assert amounts_agree(amount(line["cnt"]) * amount(line["unitprice"]), amount(line["price"]))
    for answer in await mock_answers(registry.get("receipt_fields_v1")):
        a = {key: amount(value) for key, value in answer.items()}
        assert amounts_agree(a["subtotal"] + a["tax"] + a["service"] - a["discount"], a["total"]), answer
        assert amounts_agree(a["cash"] + a["card"] - a["total"], a["change"]), answer
