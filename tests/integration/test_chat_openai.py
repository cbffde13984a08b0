"""OpenAIChatModel against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from adapters.chat.openai import OpenAIChatModel
from adapters.chat.params import is_reasoning_model
from adapters.openai_http.client import build_openai_http_client
from application.ports.chat import ChatMessage, ModelCall
from domain.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from tests.contracts.chat_contract import ChatModelContract, site_messages
from tests.support.openai_extra_server import OpenAIExtraServer, openai_error
from tests.support.openai_server import (
    Reply,
    Status,
    delay,
    drop,
    not_json_body,
    rate_limited,
    status,
)
from tests.support.services import free_port

API_KEY = "sk-chat-SECRET-0c0ffee"
MAX_ATTEMPTS = 3
HELLO = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello")]


class SleepLog:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def extra_server() -> Iterator[OpenAIExtraServer]:
    with OpenAIExtraServer() as server:
        yield server


@pytest.fixture
def server(extra_server: OpenAIExtraServer) -> Iterator[OpenAIExtraServer]:
    extra_server.reset()
    yield extra_server
    extra_server.reset()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = build_openai_http_client(1.0, 10)
    yield client
    await client.aclose()


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def make(
    server: OpenAIExtraServer, http: httpx.AsyncClient, sleeps: SleepLog
) -> Callable[..., OpenAIChatModel]:
    def build(**overrides: Any) -> OpenAIChatModel:
        options: dict[str, Any] = {
            "base_url": server.base_url,
            "api_key": API_KEY,
            "retry_max_attempts": MAX_ATTEMPTS,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            "retry_after_max_s": 5.0,
            "sleep": sleeps,
        }
        options.update(overrides)
        return OpenAIChatModel(options.pop("http", http), **options)

    return build


class TestOpenAIChatModel(ChatModelContract):
    @pytest.fixture
    def adapter(self, make: Callable[..., OpenAIChatModel]) -> OpenAIChatModel:
        return make()

    @pytest.fixture
    def induce(self, server: OpenAIExtraServer) -> Callable[[str], list[ChatMessage]]:
        def arrange(fault: str) -> list[ChatMessage]:
            if fault == "upstream_unavailable":
                server.script(*[status(503)] * MAX_ATTEMPTS)
            elif fault == "timeout":
                server.script(*[status(504)] * MAX_ATTEMPTS)
            else:
                raise AssertionError(fault)
            return site_messages()

        return arrange


def _calls(error: Exception) -> list[ModelCall]:
    return [msgspec.convert(c, ModelCall) for c in error.details["calls"]]  # type: ignore[attr-defined]


def _bodies(server: OpenAIExtraServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests_to("chat")]


# --- wire format ----------------------------------------------------------------------------


async def test_request_shape(server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]) -> None:
    await make(max_tokens=700).complete(HELLO, model="gpt-4o", request_id="req-chat.1")
    [sent] = server.requests_to("chat")
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["x-request-id"] == "req-chat.1"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Hello"}],
        "temperature": 0.0,
        "max_tokens": 700,
    }


async def test_no_optional_parameters_when_unset(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    await make(temperature=None).complete(HELLO, model="gpt-4o")
    assert set(_bodies(server)[0]) == {"model", "messages"}


async def test_no_authorization_or_request_id_when_absent(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    client = make(api_key="")
    await client.complete(HELLO, model="gpt-4o")
    await client.ping()
    assert all("authorization" not in r.headers for r in server.requests)
    assert "x-request-id" not in server.requests[0].headers


async def test_usage_with_cached_tokens_and_answered_model(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.cached_tokens = 3
    server.answer_model = "gpt-4o-2024-11-20"
    try:
        reply = await make().complete(HELLO, model="gpt-4o")
    finally:
        server.answer_model = None
    assert reply.usage.cached_input_tokens == 3
    assert reply.usage.input_tokens >= 3
    assert reply.model == "gpt-4o-2024-11-20"
    assert reply.calls[0].model == "gpt-4o-2024-11-20"


async def test_usage_absent_counts_zero(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.script(Status(200, {"choices": [{"message": {"content": "hi"}}]}))
    reply = await make().complete(HELLO, model="m")
    assert reply.text == "hi" and reply.usage.total == 0 and reply.model == "m"


async def test_content_as_list_of_parts(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.script(Reply([{"type": "text", "text": "[GOODS]="}, {"type": "text", "text": "[x]"}]))
    assert (await make().complete(HELLO, model="m")).text == "[GOODS]=[x]"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_base_url_with_or_without_v1(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], suffix: str
) -> None:
    client = make(base_url=server.url + suffix)
    assert client.base_url == server.base_url
    await client.complete(HELLO, model="m")
    assert server.requests[0].path == "/v1/chat/completions"


async def test_base_url_with_another_path_is_kept(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    await make(base_url=server.url + "/compat/openai").complete(HELLO, model="m")
    assert server.requests[0].path == "/compat/openai/chat/completions"


# --- parameters a model refuses ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [("gpt-5", True), ("gpt-5-mini-2025-08-07", True), ("o1", True), ("o3-mini", True),
     ("o4-mini", True), ("openai/gpt-5", True), ("gpt-4o", False), ("gpt-4.1", False),
     ("o10-custom", False), ("Qwen/Qwen3-8B", False)],
)
def test_reasoning_models(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


async def test_reasoning_model_gets_no_temperature_and_max_completion_tokens(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], sleeps: SleepLog
) -> None:
    server.refuse("gpt-5-mini", "temperature", "max_tokens")
    reply = await make(max_tokens=900).complete(HELLO, model="gpt-5-mini")
    [body] = _bodies(server)
    assert "temperature" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 900
    assert len(reply.calls) == 1 and sleeps.calls == []


@pytest.mark.parametrize("style", ["openai", "message"])
async def test_refused_temperature_dropped_then_remembered(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], sleeps: SleepLog,
    style: str, caplog: pytest.LogCaptureFixture,
) -> None:
    server.refuse("strict-model", "temperature", style=style)
    client = make()
    caplog.set_level(logging.INFO, logger="ocr.site")
    reply = await client.complete(HELLO, model="strict-model")
    assert [c.ok for c in reply.calls] == [False, True]
    assert reply.calls[0].usage.total == 0
    assert sleeps.calls == []  # a changed request, not a transient failure
    first, second = _bodies(server)
    assert first["temperature"] == 0.0 and "temperature" not in second
    assert client.refused_parameters("strict-model") == {"temperature"}
    assert "chat_param_dropped" in [getattr(r, "event", None) for r in caplog.records]

    again = await client.complete(HELLO, model="strict-model")
    assert len(again.calls) == 1
    assert "temperature" not in _bodies(server)[2]
    await client.complete(HELLO, model="other-model")  # remembered per model only
    assert _bodies(server)[3]["temperature"] == 0.0


async def test_refused_max_tokens_becomes_max_completion_tokens(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.refuse("strict-model", "max_tokens")
    reply = await make(max_tokens=64).complete(HELLO, model="strict-model")
    assert reply.calls[-1].ok
    first, second = _bodies(server)
    assert first["max_tokens"] == 64 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 64 and "max_tokens" not in second
    assert second["temperature"] == 0.0


async def test_every_refusal_handled_within_one_call(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.refuse("picky", "temperature", "max_tokens", "max_completion_tokens")
    reply = await make(max_tokens=64).complete(HELLO, model="picky")
    assert len(reply.calls) == 4 and reply.calls[-1].ok
    assert set(_bodies(server)[-1]) == {"model", "messages"}


async def test_refusal_of_a_parameter_not_sent_is_an_ordinary_400(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.script(openai_error(400, "Unsupported parameter: 'top_p' is not supported.",
                               param="top_p", code="unsupported_parameter"))
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="m")
    assert caught.value.details["retryable"] is False
    assert len(server.requests) == 1


# --- retries and final errors --------------------------------------------------------------


async def test_retry_after_honoured(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], sleeps: SleepLog
) -> None:
    server.script(rate_limited("2"), status(503, headers={"Retry-After": "1"}))
    reply = await make().complete(HELLO, model="m")
    assert sleeps.calls == [2.0, 1.0]
    assert [c.ok for c in reply.calls] == [False, False, True]


async def test_retry_after_capped_and_backoff_bounded(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], sleeps: SleepLog
) -> None:
    server.script(rate_limited("86400"), status(500))
    await make(backoff_base_s=1.0, backoff_max_s=1.0).complete(HELLO, model="m")
    assert sleeps.calls[0] == 5.0
    assert 0.5 <= sleeps.calls[1] <= 1.0


async def test_an_empty_error_body_is_named_by_its_status_with_the_upstream_request_id(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    """Issue 13, item 9, in the transport the site-analysis clients share with vLLM's."""
    server.script(Status(404, "", {"x-request-id": "req_0a1b2c"}))
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="m")
    assert caught.value.message == "HTTP 404 Not Found from the model server"
    assert caught.value.details["upstream_request_id"] == "req_0a1b2c"
    assert caught.value.details["retryable"] is False and caught.value.details["http_status"] == 404
    server.script(openai_error(400, "bad"))
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="m")
    assert "upstream_request_id" not in caught.value.details  # none sent, none invented


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
async def test_no_retry_on_4xx(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], sleeps: SleepLog, code: int
) -> None:
    server.script(openai_error(code, f"scripted {code}"))
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="m")
    assert type(caught.value) is UpstreamError
    assert caught.value.details["retryable"] is False
    assert caught.value.details["http_status"] == code
    assert f"scripted {code}" in caught.value.message
    assert len(server.requests) == 1 and sleeps.calls == []
    assert len(_calls(caught.value)) == 1


@pytest.mark.parametrize(
    ("code", "error"),
    [(429, UpstreamUnavailableError), (503, UpstreamUnavailableError),
     (425, UpstreamUnavailableError), (408, UpstreamTimeoutError), (504, UpstreamTimeoutError),
     (500, UpstreamError), (502, UpstreamError)],
)
async def test_retryable_statuses_exhaust_attempts(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], sleeps: SleepLog,
    code: int, error: type[Exception],
) -> None:
    server.script(*[status(code)] * MAX_ATTEMPTS)
    with pytest.raises(error) as caught:
        await make().complete(HELLO, model="m")
    assert type(caught.value) is error
    details = caught.value.details  # type: ignore[attr-defined]
    assert details["retryable"] is True and details["attempts"] == MAX_ATTEMPTS
    calls = _calls(caught.value)
    assert len(calls) == MAX_ATTEMPTS == len(server.requests)
    assert all(not c.ok and c.model == "m" and c.usage.total == 0 for c in calls)
    assert len(sleeps.calls) == MAX_ATTEMPTS - 1


async def test_read_timeout_retried_then_success(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.script(delay(3))
    reply = await make().complete(HELLO, model="m")
    assert [c.ok for c in reply.calls] == [False, True]


async def test_read_timeout_final(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.script(delay(3))
    with pytest.raises(UpstreamTimeoutError) as caught:
        await make(retry_max_attempts=1).complete(HELLO, model="m")
    assert caught.value.details["retryable"] is True
    assert "Timeout" in caught.value.message


async def test_dropped_connection_retried(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.script(drop())
    reply = await make().complete(HELLO, model="m")
    assert reply.calls[-1].ok and len(reply.calls) == 2


async def test_connection_refused_is_unavailable(
    http: httpx.AsyncClient, sleeps: SleepLog
) -> None:
    client = OpenAIChatModel(http, base_url=f"http://127.0.0.1:{free_port()}", api_key="",
                             sleep=sleeps)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.complete(HELLO, model="m")
    assert len(_calls(caught.value)) == 3
    with pytest.raises(UpstreamUnavailableError):
        await client.ping()


# --- malformed answers ---------------------------------------------------------------------


async def test_not_json_body(server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]) -> None:
    server.script(not_json_body())
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="m")
    assert type(caught.value) is UpstreamError
    assert caught.value.details["retryable"] is False
    assert "not JSON" in caught.value.message
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"choices": [{"message": {"content": None}}]}, {"object": "x"}, [1],
     {"choices": [{"message": {"content": None, "refusal": "I can't help with that."}}]}],
    ids=["no-choices", "null-content", "no-choices-key", "list", "refusal"],
)
async def test_malformed_completion(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel], body: Any
) -> None:
    server.script(Status(200, body))
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="m")
    assert "malformed" in caught.value.message
    assert caught.value.details["retryable"] is False
    [call] = _calls(caught.value)
    assert not call.ok


async def test_malformed_completion_keeps_billed_usage(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]
) -> None:
    server.script(Status(200, {"model": "gpt-4o-2024-11-20", "choices": [{"message": {}}],
                               "usage": {"prompt_tokens": 50, "completion_tokens": 7}}))
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="gpt-4o")
    [call] = _calls(caught.value)
    assert (call.usage.input_tokens, call.usage.output_tokens, call.ok) == (50, 7, False)
    assert call.model == "gpt-4o-2024-11-20"


# --- secrets and logs ----------------------------------------------------------------------


async def test_key_never_in_errors_or_logs(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.script(openai_error(401, f"Incorrect API key provided: {API_KEY}.",
                               code="invalid_api_key"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UpstreamError) as caught:
        await make().complete(HELLO, model="m", request_id="req-secret")
    assert API_KEY not in caught.value.message
    assert "[redacted]" in caught.value.message
    assert API_KEY not in str(caught.value.details)
    assert all(API_KEY not in str(r.__dict__) for r in caplog.records)


async def test_log_events(
    server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.script(status(503))
    caplog.set_level(logging.INFO, logger="ocr.site")
    await make().complete(HELLO, model="m", request_id="req-log")
    records = [r for r in caplog.records if r.name == "ocr.site"]
    assert [r.event for r in records] == [  # type: ignore[attr-defined]
        "chat_call_start", "chat_call_error", "chat_call_start", "chat_call_end"]
    assert all(r.request_id == "req-log" and r.model == "m" for r in records)  # type: ignore[attr-defined]
    assert [r.attempt for r in records] == [1, 1, 2, 2]  # type: ignore[attr-defined]


async def test_ping(server: OpenAIExtraServer, make: Callable[..., OpenAIChatModel]) -> None:
    await make().ping()
    assert server.requests[0].path == "/v1/models"
    server.script(status(500), endpoint="models")
    with pytest.raises(UpstreamUnavailableError):
        await make().ping()
