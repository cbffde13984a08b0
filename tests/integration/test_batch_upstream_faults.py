"""Upstream faults inside a batch: through the real HTTP app with the vLLM adapter talking to
an OpenAI-compatible test server, and with the mock backend's failure triggers. Affected
items carry the right error code and an artifact; the other items succeed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.batches_helpers import upload
from tests.support.images import image_bytes
from tests.support.openai_server import OpenAIServer, delay, drop, not_json_body, ok, status


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def test_faults_of_one_request_fail_that_item_only(make_api: Any, server: OpenAIServer) -> None:
    api = make_api(inference_backend="vllm", vllm_base_url=server.base_url, vllm_retry_max_attempts=2,
                   vllm_read_timeout_s=0.5)
    # Sequential items (concurrency 1) meet the scripted answers in order.
    server.script(
        status(500), status(500),  # item 0: 5xx twice → upstream_error after 2 attempts
        ok(),  # item 1
        status(503), ok(),  # item 2: one 503 then success on retry
        ok("this is not json"),  # item 3: invalid_model_output
        not_json_body(),  # item 4: 200 with a malformed body → upstream_error, not retried
    )
    files = [(f"{i}.png", image_bytes(size=(30 + i, 30))) for i in range(6)]
    body = upload(api, files, concurrency=1).json()
    codes = [(i["error"] or {}).get("code") for i in body["items"]]
    assert codes == ["upstream_error", None, None, "invalid_model_output", "upstream_error", None]
    assert body["ok_count"] == 3 and body["error_count"] == 3
    for item in body["items"]:
        artifact = api.artifact(item["artifact_rel"])
        assert artifact["request_id"] == item["request_id"]
        assert (artifact["error"] or {}).get("code") == (item["error"] or {}).get("code")
    assert len(body["items"][0]["error_history"]) == 2 and body["items"][0]["error"]["retryable"] is True
    assert [h["http_status"] for h in body["items"][2]["error_history"]] == [503]  # recovered on retry


def test_an_unreachable_or_silent_model_server_is_waited_out(make_api: Any, server: OpenAIServer) -> None:
    """Timeouts and dropped connections say "the server is not there": the batch waits (ADR
    0053) and the items succeed once it answers, instead of failing."""
    api = make_api(inference_backend="vllm", vllm_base_url=server.base_url, vllm_retry_max_attempts=2,
                   vllm_read_timeout_s=0.5)
    server.script(delay(2), delay(2), drop(), drop())
    files = [(f"{i}.png", image_bytes(size=(30 + i, 30))) for i in range(3)]
    body = upload(api, files, concurrency=1).json()
    assert [i["error"] for i in body["items"]] == [None, None, None]
    assert body["ok_count"] == 3
    assert len(server.chat_requests) == 4 + 3  # four failed calls, then one answer per item
    for item in body["items"]:
        assert api.artifact(item["artifact_rel"])["error"] is None  # no failure artifact under the id


def test_an_outage_longer_than_the_wait_fails_the_items(make_api: Any, server: OpenAIServer) -> None:
    api = make_api(inference_backend="vllm", vllm_base_url=server.base_url, vllm_retry_max_attempts=1,
                   outage_max_wait_s=1.0)
    server.script(*[status(503)] * 200)
    files = [(f"{i}.png", image_bytes(size=(30 + i, 30))) for i in range(3)]
    body = upload(api, files, concurrency=1).json()
    assert [(i["error"] or {}).get("code") for i in body["items"]] == ["upstream_unavailable"] * 3
    for item in body["items"]:
        assert api.artifact(item["artifact_rel"])["error"]["code"] == "upstream_unavailable"


def test_mock_failure_triggers_in_a_batch(api: Any) -> None:
    names = ["ok1.png", "mock_fail_json_a.png", "mock_fail_schema_b.png", "mock_fail_upstream_c.png", "ok2.png"]
    body = upload(api, [(n, image_bytes(size=(30 + i, 30))) for i, n in enumerate(names)], concurrency=3).json()
    codes = [(i["error"] or {}).get("code") for i in body["items"]]
    assert codes == [None, "invalid_model_output", "schema_validation_failed", "upstream_unavailable", None]
    assert all(api.artifact(i["artifact_rel"])["request_id"] == i["request_id"] for i in body["items"])
