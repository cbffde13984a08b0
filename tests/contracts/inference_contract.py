"""Contract every ``InferenceClient`` adapter honours, written once (HOUSE_STYLE: tests/contracts).

Subclasses provide two fixtures:

* ``adapter`` — the ``InferenceClient`` under test;
* ``induce`` — ``Callable[[str], str]``: arrange the fault named (one of ``FAULTS``) for the
  next call and return the request id to use for it (the mock encodes faults in the id, the
  HTTP server is scripted).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from PIL import Image

from application.ports.inference import InferenceClient, InferenceRequest
from domain.receipts.errors import InvalidModelOutputError
from domain.receipts.json_text import extract_json_object
from domain.receipts.tasks import Task, load_task_registry
from domain.receipts.validation import validate_output

FAULTS = ("upstream_unavailable", "non_json", "schema_invalid")
SHIPPED_TASKS = ("receipt_fields_v1", "items_light_v1", "receipt_v1", "invoice_v1")
UPSTREAM_CODES = {"upstream_error", "upstream_timeout", "upstream_unavailable", "context_overflow"}


def png_bytes(width: int = 320, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 245)).save(out, format="PNG")
    return out.getvalue()


def make_request(
    task: Task,
    request_id: str = "req_contract",
    *,
    image: bytes | None = None,
    mime_type: str = "image/png",
    max_tokens: int = 1024,
) -> InferenceRequest:
    return InferenceRequest(
        request_id=request_id,
        image=image if image is not None else png_bytes(),
        mime_type=mime_type,
        prompt=task.prompt,
        schema_name=task.schema_name,
        json_schema=task.json_schema,
        temperature=0.0,
        max_tokens=max_tokens,
    )


def task(task_id: str = "receipt_fields_v1") -> Task:
    return load_task_registry().get(task_id)


class InferenceContract:
    @pytest.mark.parametrize("task_id", SHIPPED_TASKS)
    async def test_success_text_parses_and_validates(
        self, adapter: InferenceClient, task_id: str
    ) -> None:
        t = task(task_id)
        outcome = await adapter.complete(make_request(t, f"req_ok_{task_id}"))
        assert outcome.failure is None
        assert outcome.text is not None
        parsed = extract_json_object(outcome.text)
        assert validate_output(t.json_schema, parsed) == []

    async def test_outcome_names_model_and_counts_attempts(self, adapter: InferenceClient) -> None:
        outcome = await adapter.complete(make_request(task(), max_tokens=700))
        assert outcome.model_id == adapter.model_id
        assert outcome.model_id
        assert outcome.attempts == 1
        assert outcome.error_history == ()
        assert outcome.resize_scale is None
        assert outcome.max_tokens_effective == 700

    async def test_upstream_unavailable_fails_with_history_and_retryable(
        self, adapter: InferenceClient, induce: Callable[[str], str]
    ) -> None:
        outcome = await adapter.complete(make_request(task(), induce("upstream_unavailable")))
        assert outcome.text is None
        assert outcome.failure is not None
        assert outcome.failure.code == "upstream_unavailable"
        assert outcome.failure.retryable is True
        assert outcome.failure.http_status == 503
        assert outcome.attempts > 1
        assert len(outcome.error_history) == outcome.attempts
        assert [h.attempt for h in outcome.error_history] == list(range(1, outcome.attempts + 1))
        for entry in outcome.error_history:
            assert entry.code in UPSTREAM_CODES
            assert entry.http_status == 503
            assert entry.message

    async def test_non_json_answer_is_text_not_failure(
        self, adapter: InferenceClient, induce: Callable[[str], str]
    ) -> None:
        outcome = await adapter.complete(make_request(task(), induce("non_json")))
        assert outcome.failure is None
        assert outcome.text is not None
        with pytest.raises(InvalidModelOutputError):
            extract_json_object(outcome.text)

    async def test_schema_invalid_answer_is_json_failing_validation(
        self, adapter: InferenceClient, induce: Callable[[str], str]
    ) -> None:
        t = task()
        outcome = await adapter.complete(make_request(t, induce("schema_invalid")))
        assert outcome.failure is None
        assert outcome.text is not None
        assert validate_output(t.json_schema, json.loads(outcome.text)) != []

    async def test_ping_succeeds(self, adapter: InferenceClient) -> None:
        await adapter.ping()
