"""OpenAIEmbedder against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import msgspec
import numpy as np
import pytest

from adapters.embeddings.openai import OpenAIEmbedder
from adapters.openai_http.client import build_openai_http_client
from application.ports.chat import ModelCall
from domain.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from tests.contracts.embedder_contract import MODEL, EmbedderContract
from tests.support.openai_extra_server import OpenAIExtraServer, fake_vector
from tests.support.openai_server import Status, delay, drop, not_json_body, rate_limited, status
from tests.support.services import free_port

API_KEY = "sk-embed-SECRET-77aa"
MAX_ATTEMPTS = 3


class SleepLog:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def extra_server() -> Iterator[OpenAIExtraServer]:
    with OpenAIExtraServer(dim=12) as server:
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
) -> Callable[..., OpenAIEmbedder]:
    def build(**overrides: Any) -> OpenAIEmbedder:
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
        return OpenAIEmbedder(options.pop("http", http), **options)

    return build


class TestOpenAIEmbedder(EmbedderContract):
    @pytest.fixture
    def adapter(self, make: Callable[..., OpenAIEmbedder]) -> OpenAIEmbedder:
        return make()

    @pytest.fixture
    def induce(self, server: OpenAIExtraServer) -> Callable[[str], list[str]]:
        def arrange(fault: str) -> list[str]:
            assert fault == "upstream_unavailable"
            server.script(*[status(503)] * MAX_ATTEMPTS, endpoint="embeddings")
            return ["стальной лист"]

        return arrange


def _calls(error: Exception) -> list[ModelCall]:
    return [msgspec.convert(c, ModelCall) for c in error.details["calls"]]  # type: ignore[attr-defined]


async def test_wire_format(server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]) -> None:
    result = await make().embed(["a b c", "d"], model=MODEL, request_id="req-emb.1")
    [sent] = server.requests_to("embeddings")
    assert sent.method == "POST" and sent.path == "/v1/embeddings"
    assert sent.body == {"model": MODEL, "input": ["a b c", "d"]}
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["x-request-id"] == "req-emb.1"
    assert sent.headers["content-type"] == "application/json"
    assert np.allclose(result.vectors[0], fake_vector("a b c", 12))
    assert result.input_tokens == 2
    assert result.model == MODEL


async def test_no_authorization_without_key(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    await make(api_key="").embed(["x"], model=MODEL)
    assert "authorization" not in server.requests[0].headers


async def test_order_follows_index_not_position(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    server.shuffle_embeddings = True
    texts = ["один", "два", "три"]
    result = await make().embed(texts, model=MODEL)
    for text, vector in zip(texts, result.vectors, strict=True):
        assert np.allclose(vector, fake_vector(text, 12))


async def test_batches_sum_usage_and_keep_order(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    texts = [f"text number {i}" for i in range(5)]
    result = await make(batch_size=2).embed(texts, model=MODEL)
    sent = server.requests_to("embeddings")
    assert [r.body["input"] for r in sent] == [texts[0:2], texts[2:4], texts[4:]]
    assert len(result.calls) == 3 and all(c.ok for c in result.calls)
    assert result.input_tokens == sum(c.usage.input_tokens for c in result.calls) == 15
    for text, vector in zip(texts, result.vectors, strict=True):
        assert np.allclose(vector, fake_vector(text, 12))


async def test_one_call_for_typical_requests(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    await make().embed([f"t{i}" for i in range(256)], model=MODEL)
    assert len(server.requests_to("embeddings")) == 1


async def test_empty_strings_are_sent_as_a_space(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    result = await make().embed(["", "x"], model=MODEL)
    assert server.requests[0].body["input"] == [" ", "x"]
    assert len(result.vectors) == 2


async def test_retry_after_honoured(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder], sleeps: SleepLog
) -> None:
    server.script(rate_limited("2"), endpoint="embeddings")
    result = await make().embed(["x"], model=MODEL)
    assert sleeps.calls == [2.0]
    assert [c.ok for c in result.calls] == [False, True]
    assert result.calls[0].usage.total == 0


async def test_retry_after_capped(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder], sleeps: SleepLog
) -> None:
    server.script(rate_limited("3600"), endpoint="embeddings")
    await make().embed(["x"], model=MODEL)
    assert sleeps.calls == [5.0]


async def test_exponential_backoff_without_retry_after(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder], sleeps: SleepLog
) -> None:
    server.script(status(500), status(502), endpoint="embeddings")
    await make(backoff_base_s=1.0, backoff_max_s=1.5).embed(["x"], model=MODEL)
    assert len(sleeps.calls) == 2
    assert 0.5 <= sleeps.calls[0] <= 1.0
    assert 0.75 <= sleeps.calls[1] <= 1.5


async def test_no_retry_on_4xx(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder], sleeps: SleepLog
) -> None:
    server.script(Status(400, {"error": {"message": "bad model"}}), endpoint="embeddings")
    with pytest.raises(UpstreamError) as caught:
        await make().embed(["x"], model=MODEL)
    assert type(caught.value) is UpstreamError
    assert caught.value.details["retryable"] is False
    assert caught.value.details["http_status"] == 400
    assert len(server.requests) == 1 and sleeps.calls == []
    assert "bad model" in caught.value.message


@pytest.mark.parametrize(
    ("code", "error", "retryable"),
    [(503, UpstreamUnavailableError, True), (429, UpstreamUnavailableError, True),
     (504, UpstreamTimeoutError, True), (500, UpstreamError, True)],
)
async def test_final_errors(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder],
    code: int, error: type[Exception], retryable: bool,
) -> None:
    server.script(*[status(code)] * MAX_ATTEMPTS, endpoint="embeddings")
    with pytest.raises(error) as caught:
        await make().embed(["x"], model=MODEL)
    assert type(caught.value) is error
    assert caught.value.details["retryable"] is retryable
    assert len(_calls(caught.value)) == MAX_ATTEMPTS == len(server.requests)


async def test_failure_in_a_later_batch_reports_every_call(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    server.script(Status(200, {"data": [
        {"index": 0, "embedding": [1.0, 0.0]}, {"index": 1, "embedding": [0.0, 1.0]}],
        "usage": {"prompt_tokens": 7}}), *[status(503)] * MAX_ATTEMPTS, endpoint="embeddings")
    with pytest.raises(UpstreamUnavailableError) as caught:
        await make(batch_size=2).embed(["a", "b", "c"], model=MODEL)
    calls = _calls(caught.value)
    assert [c.ok for c in calls] == [True, False, False, False]
    assert calls[0].usage.input_tokens == 7


async def test_timeout_then_success(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    server.script(delay(3), endpoint="embeddings")
    result = await make().embed(["x"], model=MODEL)
    assert [c.ok for c in result.calls] == [False, True]


async def test_timeout_final(server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]) -> None:
    server.script(delay(3), endpoint="embeddings")
    with pytest.raises(UpstreamTimeoutError) as caught:
        await make(retry_max_attempts=1).embed(["x"], model=MODEL)
    assert caught.value.details["retryable"] is True


async def test_dropped_connection_is_retried(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    server.script(drop(), endpoint="embeddings")
    result = await make().embed(["x"], model=MODEL)
    assert len(result.vectors) == 1


async def test_connection_refused_is_unavailable(
    http: httpx.AsyncClient, sleeps: SleepLog
) -> None:
    embedder = OpenAIEmbedder(http, base_url=f"http://127.0.0.1:{free_port()}", api_key="",
                              sleep=sleeps)
    with pytest.raises(UpstreamUnavailableError):
        await embedder.embed(["x"], model=MODEL)
    assert len(sleeps.calls) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"object": "list"},
        {"data": [{"index": 0, "embedding": [0.1]}, {"index": 1, "embedding": [0.2]}]},
        {"data": [{"index": 0, "embedding": [[0.1, 0.2], [0.3, 0.4]]}]},
        {"data": [{"index": 0, "embedding": "AAAA"}]},
        {"data": [{"index": 3, "embedding": [0.1]}]},
        {"data": [{"index": 0, "embedding": [0.1, "x"]}]},
        [1, 2],
    ],
    ids=["no-data", "too-many", "per-token", "base64", "bad-index", "non-number", "not-object"],
)
async def test_malformed_bodies(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder], body: Any
) -> None:
    server.script(Status(200, body), endpoint="embeddings")
    with pytest.raises(UpstreamError) as caught:
        await make().embed(["x"], model=MODEL)
    assert type(caught.value) is UpstreamError
    assert caught.value.details["retryable"] is False
    assert "malformed" in caught.value.message
    assert len(server.requests) == 1


async def test_not_json_body(server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]) -> None:
    server.script(not_json_body(), endpoint="embeddings")
    with pytest.raises(UpstreamError, match="not JSON"):
        await make().embed(["x"], model=MODEL)


async def test_llama_cpp_server_shape(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    # llama-server / llama-cpp-python: OpenAI shape; the model is the loaded GGUF's alias.
    body = {"object": "list", "model": "nomic-embed-text-v1.5.Q4_K_M.gguf",
            "data": [{"object": "embedding", "embedding": [0.5, 0.5], "index": 1},
                     {"object": "embedding", "embedding": [1, 0], "index": 0}],
            "usage": {"prompt_tokens": 6, "total_tokens": 6}}
    server.script(Status(200, body), endpoint="embeddings")
    result = await make(api_key="").embed(["a", "b"], model="nomic")
    assert result.vectors == [[1.0, 0.0], [0.5, 0.5]]
    assert result.input_tokens == 6
    assert result.model == "nomic-embed-text-v1.5.Q4_K_M.gguf"


async def test_missing_usage_counts_zero(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    server.script(Status(200, {"data": [{"index": 0, "embedding": [1.0]}]}), endpoint="embeddings")
    result = await make().embed(["a"], model=MODEL)
    assert result.input_tokens == 0 and result.calls[0].ok


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_base_url_with_or_without_v1(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder], suffix: str
) -> None:
    embedder = make(base_url=server.url + suffix)
    assert embedder.base_url == server.base_url
    await embedder.embed(["x"], model=MODEL)
    assert server.requests[0].path == "/v1/embeddings"


async def test_base_url_with_another_path_is_kept(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder]
) -> None:
    embedder = make(base_url=server.url + "/compat/openai/")
    await embedder.embed(["x"], model=MODEL)
    assert server.requests[0].path == "/compat/openai/embeddings"


async def test_key_never_in_errors_or_logs(
    server: OpenAIExtraServer, make: Callable[..., OpenAIEmbedder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.script(Status(401, {"error": {"message": f"Incorrect API key provided: {API_KEY}"}}),
                  endpoint="embeddings")
    caplog.set_level(logging.DEBUG, logger="ocr.site")
    with pytest.raises(UpstreamError) as caught:
        await make().embed(["x"], model=MODEL)
    assert API_KEY not in caught.value.message
    assert API_KEY not in str(caught.value.details)
    assert all(API_KEY not in str(r.__dict__) for r in caplog.records)
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events == ["embeddings_call_start", "embeddings_call_error"]
