from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from adapters.inference.mock import MockInferenceClient
from tests.contracts.inference_contract import InferenceContract, make_request, task

_FAULT_IDS = {
    "upstream_unavailable": "mock_fail_upstream_1",
    "non_json": "mock_fail_json_1",
    "schema_invalid": "mock_fail_schema_1",
}


class TestMockInference(InferenceContract):
    @pytest.fixture
    def adapter(self) -> MockInferenceClient:
        return MockInferenceClient(max_attempts=3)

    @pytest.fixture
    def induce(self) -> Callable[[str], str]:
        return _FAULT_IDS.__getitem__

    async def test_deterministic_per_request_id(self, adapter: MockInferenceClient) -> None:
        first = await adapter.complete(make_request(task("receipt_v1"), "req_a"))
        again = await adapter.complete(make_request(task("receipt_v1"), "req_a"))
        assert first.text == again.text

    async def test_upstream_failure_respects_max_attempts(self) -> None:
        outcome = await MockInferenceClient(max_attempts=5).complete(
            make_request(task(), "mock_fail_upstream")
        )
        assert outcome.attempts == 5
        assert len(outcome.error_history) == 5

    async def test_slow_prefix_delays(self, adapter: MockInferenceClient) -> None:
        started = time.perf_counter()
        outcome = await adapter.complete(make_request(task(), "mock_slow_150_x"))
        assert time.perf_counter() - started >= 0.14
        assert outcome.failure is None

    async def test_model_id_is_configurable(self) -> None:
        outcome = await MockInferenceClient("mock-vl").complete(make_request(task()))
        assert outcome.model_id == "mock-vl"

    async def test_logs_call_events(
        self, adapter: MockInferenceClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="ocr.inference"):
            await adapter.complete(make_request(task(), "req_log"))
            await adapter.complete(make_request(task(), "mock_fail_upstream_log"))
        events = [getattr(r, "event", None) for r in caplog.records]
        assert events == [
            "inference_call_start",
            "inference_call_end",
            "inference_call_start",
            "inference_call_error",
        ]
        assert caplog.records[-1].status == 503
