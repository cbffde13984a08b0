"""Rerunning only what failed (issue 11): the new run keeps the succeeded items' results as they
were and calls the model for the failures only; ``error_codes`` narrows which failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.batches_helpers import upload, wait_done
from tests.api.conftest import assert_envelope
from tests.support.images import image_bytes
from tests.support.openai_server import OpenAIServer, ok, status


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def files(n: int) -> list[tuple[str, bytes]]:
    return [(f"{i}.png", image_bytes(size=(30 + i, 30))) for i in range(n)]


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(i["error"] or {}).get("code") for i in body["items"]]


def test_only_failed_reruns_the_failures_and_keeps_the_rest(make_api: Any, server: OpenAIServer) -> None:
    api = make_api(inference_backend="vllm", vllm_base_url=server.base_url, vllm_retry_max_attempts=1)
    server.script(ok(), status(500), ok(), ok("not json"))  # concurrency 1: items meet these in order
    source = upload(api, files(4), run_id="src-f", concurrency=1).json()
    assert codes(source) == [None, "upstream_error", None, "invalid_model_output"]
    calls = len(server.chat_requests)

    r = api.client.post("/v1/batch_extract_rerun", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "run_id": "src-f", "new_run_id": "redo-f", "only_failed": True})
    assert r.status_code == 200, r.text
    redo = r.json()
    assert len(server.chat_requests) - calls == 2  # the two failures, nothing else
    assert codes(redo) == [None, None, None, None] and redo["ok_count"] == 4
    for kept in (0, 2):
        assert redo["items"][kept] == source["items"][kept]  # the very same result and artifact
    for redone in (1, 3):
        item = redo["items"][redone]
        assert item["request_id"] != source["items"][redone]["request_id"]
        assert item["input_ref"] == source["items"][redone]["input_ref"]
        assert api.artifact(item["artifact_rel"])["error"] is None
    assert api.artifact(redo["artifact_rel"])["source_run_id"] == "src-f"


def test_error_codes_narrow_the_rerun_and_the_async_endpoint_takes_them(make_api: Any, server: OpenAIServer) -> None:
    api = make_api(inference_backend="vllm", vllm_base_url=server.base_url, vllm_retry_max_attempts=1)
    server.script(status(500), ok("not json"), ok())
    source = upload(api, files(3), run_id="src-c", concurrency=1).json()
    assert codes(source) == ["upstream_error", "invalid_model_output", None]
    calls = len(server.chat_requests)
    r = api.client.post("/v1/batch_extract_rerun_async", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "run_id": "src-c", "new_run_id": "redo-c", "error_codes": ["upstream_error"]})
    assert r.status_code == 202, r.text
    job = wait_done(api, r.json()["job_id"])
    assert job["status"] == "succeeded"
    redo = api.client.get(f"/v1/jobs/{job['job_id']}/result", headers=api.auth()).json()
    assert len(server.chat_requests) - calls == 1
    assert codes(redo) == [None, "invalid_model_output", None]
    assert redo["items"][1:] == source["items"][1:]


def test_only_failed_needs_the_source_runs_task(make_api: Any, server: OpenAIServer) -> None:
    api = make_api(inference_backend="vllm", vllm_base_url=server.base_url)
    upload(api, files(1), run_id="src-t")
    r = api.client.post("/v1/batch_extract_rerun", headers=api.auth(), json={
        "task_id": "items_light_v1", "run_id": "src-t", "only_failed": True})
    error = assert_envelope(r, 422, "validation_error")
    assert error["details"]["errors"][0]["path"] == "$.task_id"
    empty = api.client.post("/v1/batch_extract_rerun", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "run_id": "src-t", "error_codes": []})
    assert_envelope(empty, 422, "validation_error")
