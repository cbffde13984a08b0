"""VllmInferenceClient against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import math
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from adapters.inference.images import MIN_SIDE, resize_image
from adapters.inference.vllm import VllmInferenceClient, build_http_client
from adapters.openai_http.transport import RETRY_AFTER_FLOOR_S, backoff_delay
from domain.errors import UpstreamUnavailableError
from domain.receipts.json_text import extract_json_object
from tests.contracts.inference_contract import InferenceContract, make_request, png_bytes, task
from tests.support.openai_server import (
    OpenAIServer,
    RawBody,
    Reply,
    delay,
    drop,
    fenced,
    not_json_body,
    ok,
    overflow,
    rate_limited,
    status,
    trickle,
)
from tests.support.services import free_port

API_KEY = "sk-test-SECRET-4f1c2a"
MAX_ATTEMPTS = 3


class SleepLog:
    """Injected ``sleep``: records the requested waits, waits (almost) nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture(scope="module")
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(model="Qwen/Qwen3-VL-8B-Instruct") as server:
        yield server


@pytest.fixture
def server(openai_server: OpenAIServer) -> Iterator[OpenAIServer]:
    openai_server.reset()
    yield openai_server
    openai_server.reset()


@pytest.fixture(params=["aiohttp", "httpx"])
async def http(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    # Every behaviour holds on the production transport (aiohttp, ADR 0009) and httpx's own.
    client = build_http_client(1.0, 2.0, 2.0, 1.0, 10, 5, 5.0, transport=request.param)
    yield client
    await client.aclose()


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
def make_client(
    server: OpenAIServer, http: httpx.AsyncClient, sleeps: SleepLog
) -> Callable[..., VllmInferenceClient]:
    def make(**overrides: Any) -> VllmInferenceClient:
        options: dict[str, Any] = {
            "base_url": server.base_url,
            "model": server.model,
            "api_key": API_KEY,
            "retry_max_attempts": MAX_ATTEMPTS,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.05,
            "retry_after_max_s": 5.0,
            "sleep": sleeps,
        }
        options.update(overrides)
        return VllmInferenceClient(options.pop("http", http), **options)

    return make


def _dims(image: bytes) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(image)) as opened:
        return opened.format, opened.size


class TestVllmInference(InferenceContract):
    @pytest.fixture
    def adapter(self, make_client: Callable[..., VllmInferenceClient]) -> VllmInferenceClient:
        return make_client()

    @pytest.fixture
    def induce(self, server: OpenAIServer) -> Callable[[str], str]:
        def arrange(fault: str) -> str:
            if fault == "upstream_unavailable":
                server.script(*[status(503)] * MAX_ATTEMPTS)
            elif fault == "non_json":
                server.script(ok("Sorry, I could not read this receipt."))
            elif fault == "schema_invalid":
                server.script(ok('{"unexpected": true}'))
            else:
                raise AssertionError(fault)
            return f"req_{fault}"

        return arrange


class TestWireFormat:
    async def test_request_shape(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        t = task("receipt_v1")
        image = png_bytes(100, 150)
        await make_client().complete(make_request(t, "req-wire.1", image=image, max_tokens=900))
        [sent] = server.chat_requests
        assert sent.method == "POST"
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["x-request-id"] == "req-wire.1"
        assert sent.headers["authorization"] == f"Bearer {API_KEY}"
        assert sent.headers["content-type"] == "application/json"
        body = sent.body
        assert body["model"] == server.model
        assert body["temperature"] == 0.0
        assert body["max_tokens"] == 900
        [message] = body["messages"]
        assert message["role"] == "user"
        text_part, image_part = message["content"]
        assert text_part == {"type": "text", "text": t.prompt}
        assert image_part["type"] == "image_url"
        assert image_part["image_url"]["url"] == (
            "data:image/png;base64," + base64.b64encode(image).decode()
        )
        assert sent.image() == ("image/png", image)
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": t.schema_name, "schema": t.json_schema, "strict": True},
        }

    async def test_no_authorization_header_without_key(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        client = make_client(api_key="")
        await client.complete(make_request(task()))
        await client.ping()
        assert all("authorization" not in r.headers for r in server.requests)

    async def test_json_object_style_for_llama_cpp(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        t = task()
        outcome = await make_client(response_format_style="json_object").complete(make_request(t))
        assert outcome.failure is None
        fmt = server.chat_requests[0].body["response_format"]
        assert fmt == {"type": "json_object", "schema": t.json_schema}

    def test_unknown_response_format_style_rejected(self, make_client: Callable[..., Any]) -> None:
        with pytest.raises(ValueError):
            make_client(response_format_style="grammar")

    @pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
    async def test_base_url_with_or_without_v1(
        self, server: OpenAIServer, make_client: Callable[..., Any], suffix: str
    ) -> None:
        client = make_client(base_url=server.url + suffix)
        assert client.base_url == server.base_url
        outcome = await client.complete(make_request(task()))
        assert outcome.failure is None
        assert server.chat_requests[0].path == "/v1/chat/completions"

    async def test_max_tokens_clamped_to_limit(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        outcome = await make_client(max_tokens_limit=2048).complete(
            make_request(task(), max_tokens=10_000)
        )
        assert server.chat_requests[0].body["max_tokens"] == 2048
        assert outcome.max_tokens_effective == 2048

    async def test_content_as_list_of_parts(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(Reply([{"type": "text", "text": '{"a": '}, {"type": "text", "text": "1}"}]))
        outcome = await make_client().complete(make_request(task()))
        assert outcome.text == '{"a": 1}'

    async def test_fenced_json_is_returned_as_text(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(fenced({"total": "12.00"}))
        outcome = await make_client().complete(make_request(task()))
        assert outcome.failure is None
        assert outcome.text is not None and "```json" in outcome.text
        assert extract_json_object(outcome.text) == {"total": "12.00"}


class TestRetries:
    async def test_429_retry_after_honoured_then_success(
        self, server: OpenAIServer, make_client: Callable[..., Any], sleeps: SleepLog
    ) -> None:
        server.script(rate_limited("2"), ok())
        outcome = await make_client().complete(make_request(task()))
        assert outcome.failure is None
        assert outcome.attempts == 2
        assert sleeps.calls == [2.0]
        [first] = outcome.error_history
        assert (first.attempt, first.code, first.http_status) == (1, "upstream_unavailable", 429)
        assert len(server.chat_requests) == 2

    async def test_retry_after_http_date_and_cap(
        self, server: OpenAIServer, make_client: Callable[..., Any], sleeps: SleepLog
    ) -> None:
        soon = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
        server.script(rate_limited(soon), rate_limited("3600"), ok())
        outcome = await make_client().complete(make_request(task()))
        assert outcome.failure is None
        assert 1.0 <= sleeps.calls[0] <= 3.0
        assert sleeps.calls[1] == 5.0  # capped at retry_after_max_s

    async def test_unparseable_retry_after_falls_back_to_backoff(
        self, server: OpenAIServer, make_client: Callable[..., Any], sleeps: SleepLog
    ) -> None:
        server.script(rate_limited("soon-ish"), ok())
        outcome = await make_client().complete(make_request(task()))
        assert outcome.failure is None
        [wait] = sleeps.calls
        assert 0.005 <= wait <= 0.01

    async def test_real_wait_between_attempts(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(rate_limited("0.5"), ok())
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await make_client(sleep=asyncio.sleep).complete(make_request(task()))
        assert outcome.failure is None
        assert loop.time() - started >= 0.49

    @pytest.mark.parametrize(
        ("retry_after", "failed", "low", "high"),
        [
            (None, 1, 0.5, 1.0),
            (0.0, 1, 0.5, 1.0),  # below the floor: the normal backoff, not a hammering retry
            (0.2, 2, 1.0, 2.0),
            (RETRY_AFTER_FLOOR_S, 1, 0.5, 0.5),  # at the floor and above: honoured
            (3.0, 1, 3.0, 3.0),
            (60.0, 1, 5.0, 5.0),  # capped at retry_after_max_s
        ],
    )
    def test_retry_after_below_the_floor_gets_the_backoff(
        self, retry_after: float | None, failed: int, low: float, high: float
    ) -> None:
        rng = random.Random(7)
        for _ in range(50):
            wait = backoff_delay(failed, retry_after, base_s=1.0, max_s=8.0, retry_after_max_s=5.0,
                                 rng=rng)
            assert low <= wait <= high

    async def test_retry_after_zero_waits_the_normal_backoff(
        self, server: OpenAIServer, make_client: Callable[..., Any], sleeps: SleepLog
    ) -> None:
        server.script(*[rate_limited("0")] * MAX_ATTEMPTS)
        client = make_client(backoff_base_s=1.0, backoff_max_s=8.0)
        outcome = await client.complete(make_request(task()))
        assert outcome.failure is not None and outcome.failure.http_status == 429
        assert len(server.chat_requests) == MAX_ATTEMPTS
        first, second = sleeps.calls
        assert 0.5 <= first <= 1.0
        assert 1.0 <= second <= 2.0

    @pytest.mark.parametrize(
        ("code", "expected"),
        [
            (500, "upstream_error"),
            (502, "upstream_error"),
            (503, "upstream_unavailable"),
            (504, "upstream_timeout"),
            (408, "upstream_timeout"),
            (425, "upstream_unavailable"),
            (429, "upstream_unavailable"),
        ],
    )
    async def test_retryable_status_exhausts_attempts(
        self,
        server: OpenAIServer,
        make_client: Callable[..., Any],
        sleeps: SleepLog,
        code: int,
        expected: str,
    ) -> None:
        server.script(*[status(code)] * (MAX_ATTEMPTS + 1))
        outcome = await make_client().complete(make_request(task()))
        assert outcome.text is None
        assert outcome.failure is not None
        assert (outcome.failure.code, outcome.failure.http_status) == (expected, code)
        assert outcome.failure.retryable is True
        assert outcome.attempts == MAX_ATTEMPTS
        assert [(h.attempt, h.code, h.http_status) for h in outcome.error_history] == [
            (n, expected, code) for n in range(1, MAX_ATTEMPTS + 1)
        ]
        assert len(server.chat_requests) == MAX_ATTEMPTS
        assert len(sleeps.calls) == MAX_ATTEMPTS - 1
        assert all(0.0 < s <= 0.05 for s in sleeps.calls)

    async def test_backoff_grows(
        self, server: OpenAIServer, make_client: Callable[..., Any], sleeps: SleepLog
    ) -> None:
        server.script(*[status(500)] * 4)
        client = make_client(retry_max_attempts=4, backoff_base_s=1.0, backoff_max_s=3.0)
        await client.complete(make_request(task()))
        first, second, third = sleeps.calls
        assert 0.5 <= first <= 1.0
        assert 1.0 <= second <= 2.0
        assert 1.5 <= third <= 3.0

    @pytest.mark.parametrize("code", [400, 401, 403, 404, 413, 422])
    async def test_other_4xx_not_retried(
        self, server: OpenAIServer, make_client: Callable[..., Any], code: int
    ) -> None:
        server.script(status(code, {"object": "error", "message": "bad input", "code": code}))
        outcome = await make_client().complete(make_request(task()))
        assert outcome.failure is not None
        assert outcome.failure.code == "upstream_error"
        assert outcome.failure.retryable is False
        assert outcome.failure.http_status == code
        assert "bad input" in outcome.failure.message
        assert outcome.attempts == 1
        assert len(server.chat_requests) == 1

    async def test_read_timeout_is_upstream_timeout(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(*[delay(1.0)] * MAX_ATTEMPTS)
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, read=0.2)) as quick:
            outcome = await make_client(http=quick).complete(make_request(task()))
        assert outcome.failure is not None
        assert outcome.failure.code == "upstream_timeout"
        assert outcome.failure.retryable is True
        assert outcome.failure.http_status is None
        assert outcome.attempts == MAX_ATTEMPTS
        assert all(h.code == "upstream_timeout" for h in outcome.error_history)
        assert "ReadTimeout" in outcome.error_history[0].message

    async def test_timeout_then_success(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(delay(1.0), ok())
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, read=0.2)) as quick:
            outcome = await make_client(http=quick).complete(make_request(task()))
        assert outcome.failure is None
        assert outcome.attempts == 2

    async def test_call_deadline_bounds_a_trickled_answer(
        self, server: OpenAIServer, make_client: Callable[..., Any], request: pytest.FixtureRequest
    ) -> None:
        # One byte every 0.2 s never trips the 1 s read timeout; only the call deadline ends it.
        server.script(*[trickle(0.2)] * MAX_ATTEMPTS)
        transport = request.node.callspec.params["http"]  # both transports, as everywhere here
        http = build_http_client(1.0, 1.0, 1.0, 1.0, 10, 5, 5.0, transport=transport)
        loop = asyncio.get_running_loop()
        try:
            client = make_client(http=http, call_timeout_s=0.5)
            started = loop.time()
            outcome = await client.complete(make_request(task()))
            elapsed = loop.time() - started
            assert outcome.failure is not None
            assert (outcome.failure.code, outcome.failure.retryable) == ("upstream_timeout", True)
            assert outcome.failure.http_status is None
            assert outcome.attempts == MAX_ATTEMPTS
            assert [h.code for h in outcome.error_history] == ["upstream_timeout"] * MAX_ATTEMPTS
            assert all("call deadline exceeded" in h.message for h in outcome.error_history)
            assert MAX_ATTEMPTS * 0.5 <= elapsed < MAX_ATTEMPTS * 0.5 + 1.0  # ~0.5 s per attempt
            assert len(server.chat_requests) == MAX_ATTEMPTS
            server.script(ok())
            assert (await client.complete(make_request(task()))).failure is None
        finally:
            await http.aclose()

    async def test_dropped_connection_retried(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(drop(), ok())
        outcome = await make_client().complete(make_request(task()))
        assert outcome.failure is None
        assert outcome.attempts == 2
        [first] = outcome.error_history
        assert first.code == "upstream_error"
        assert first.http_status is None

    async def test_connection_refused_is_unavailable(self, make_client: Callable[..., Any]) -> None:
        client = make_client(base_url=f"http://127.0.0.1:{free_port()}")
        outcome = await client.complete(make_request(task()))
        assert outcome.failure is not None
        assert outcome.failure.code == "upstream_unavailable"
        assert outcome.failure.retryable is True
        assert outcome.attempts == MAX_ATTEMPTS

    async def test_messages_scrubbed_and_truncated(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        image = png_bytes(64, 64)
        echoed = f"key {API_KEY} image data:image/png;base64,{base64.b64encode(image).decode()} "
        server.script(status(400, {"object": "error", "message": echoed + "x" * 1000}))
        outcome = await make_client().complete(make_request(task(), image=image))
        assert outcome.failure is not None
        for message in [outcome.failure.message, *(h.message for h in outcome.error_history)]:
            assert API_KEY not in message
            assert base64.b64encode(image).decode()[:40] not in message
            assert len(message) <= 300


class TestMalformedAnswers:
    @pytest.mark.parametrize(
        "behaviour",
        [
            not_json_body(),
            RawBody('{"object": "chat.completion", "choices": []}'),
            RawBody('{"choices": [{"index": 0, "message": {"role": "assistant"}}]}'),
            RawBody('{"choices": [{"message": {"content": null}}]}'),
            RawBody('{"choices": [{"message": {"content": 42}}]}'),
            RawBody("[]"),
        ],
    )
    async def test_malformed_200_is_upstream_error(
        self, server: OpenAIServer, make_client: Callable[..., Any], behaviour: RawBody
    ) -> None:
        server.script(behaviour)
        outcome = await make_client().complete(make_request(task()))
        assert outcome.text is None
        assert outcome.failure is not None
        assert outcome.failure.code == "upstream_error"
        assert outcome.failure.http_status == 200
        assert outcome.failure.message.startswith("malformed response")
        assert outcome.attempts == 1


class TestContextOverflow:
    async def test_overflow_shrinks_image_and_retries(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(overflow(9597, 4096), ok())
        image = png_bytes(800, 1200)
        outcome = await make_client(max_model_len=4096).complete(
            make_request(task(), image=image, max_tokens=1024)
        )
        assert outcome.failure is None
        assert outcome.attempts == 2
        expected = math.sqrt((4096 - 1024 - 256) / 9597)
        assert outcome.resize_scale == pytest.approx(expected, abs=1e-6)
        [first] = outcome.error_history
        assert (first.code, first.http_status) == ("context_overflow", 400)
        original, resent = (r.image() for r in server.chat_requests)
        assert original == ("image/png", image)
        fmt, size = _dims(resent[1])
        assert resent[0] == "image/png" and fmt == "PNG"
        assert size == (round(800 * expected), round(1200 * expected))

    async def test_overflow_gives_up_after_three_shrinks(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(*[overflow(None, None, "exceeds the maximum model length")] * 4)
        outcome = await make_client().complete(make_request(task(), image=png_bytes(800, 800)))
        assert outcome.failure is not None
        assert outcome.failure.code == "context_overflow"
        assert outcome.failure.retryable is False
        assert outcome.attempts == 4
        assert outcome.resize_scale == pytest.approx(0.125)
        sides = [_dims(r.image()[1])[1][0] for r in server.chat_requests]
        assert sides == [800, 400, 200, 100]

    async def test_overflow_in_openai_error_envelope(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        message = (
            "This model's maximum context length is 4096 tokens. However, your request has "
            "6000 input tokens. Please reduce the length of the input messages."
        )
        server.script(status(400, {"error": {"message": message, "code": 400}}), ok())
        outcome = await make_client().complete(make_request(task(), image=png_bytes(400, 400)))
        assert outcome.failure is None
        assert outcome.resize_scale == pytest.approx(math.sqrt(2816 / 6000), abs=1e-6)

    async def test_overflow_at_minimum_size_stops(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(*[overflow()] * 4)
        outcome = await make_client().complete(make_request(task(), image=png_bytes(64, 64)))
        assert outcome.failure is not None
        assert outcome.failure.code == "context_overflow"
        assert outcome.attempts == 1

    async def test_overflow_stops_when_image_cannot_shrink_further(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(*[overflow(None, None, "over the maximum model length")] * 4)
        outcome = await make_client().complete(make_request(task(), image=png_bytes(130, 130)))
        assert outcome.failure is not None
        assert outcome.failure.code == "context_overflow"
        sides = [_dims(r.image()[1])[1][0] for r in server.chat_requests]
        assert sides == [130, 65, 64]
        assert outcome.attempts == 3
        assert outcome.resize_scale == pytest.approx(0.25)  # the last scale actually sent

    async def test_overflow_with_undecodable_image_fails_cleanly(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(overflow())
        outcome = await make_client().complete(make_request(task(), image=b"not an image"))
        assert outcome.failure is not None
        assert outcome.failure.code == "context_overflow"
        assert outcome.attempts == 1
        assert outcome.resize_scale is None

    async def test_overflow_and_transient_failures_mix(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(status(503), overflow(), status(503), ok())
        outcome = await make_client().complete(make_request(task(), image=png_bytes(600, 600)))
        assert outcome.failure is None
        assert [h.code for h in outcome.error_history] == [
            "upstream_unavailable",
            "context_overflow",
            "upstream_unavailable",
        ]
        assert outcome.attempts == 4


class TestPing:
    async def test_ping_ok_sends_key(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        await make_client().ping()
        [sent] = server.requests
        assert (sent.method, sent.path) == ("GET", "/v1/models")
        assert sent.headers["authorization"] == f"Bearer {API_KEY}"

    async def test_ping_failing_status(
        self, server: OpenAIServer, make_client: Callable[..., Any]
    ) -> None:
        server.script(status(401), endpoint="models")
        with pytest.raises(UpstreamUnavailableError) as caught:
            await make_client().ping()
        assert "401" in caught.value.message

    async def test_ping_unreachable(self, make_client: Callable[..., Any]) -> None:
        with pytest.raises(UpstreamUnavailableError):
            await make_client(base_url=f"http://127.0.0.1:{free_port()}").ping()


class TestLogging:
    async def test_events_without_secrets(
        self,
        server: OpenAIServer,
        make_client: Callable[..., Any],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        server.script(status(500), ok())
        image = png_bytes(64, 64)
        with caplog.at_level(logging.INFO, logger="ocr.inference"):
            await make_client().complete(make_request(task(), "req_log", image=image))
        events = [getattr(r, "event", None) for r in caplog.records]
        assert events == [
            "inference_call_start",
            "inference_call_error",
            "inference_call_start",
            "inference_call_end",
        ]
        end = caplog.records[-1]
        assert (end.model, end.attempt, end.status) == (server.model, 2, 200)
        assert isinstance(end.duration_ms, int)
        b64 = base64.b64encode(image).decode()[:40]
        for record in caplog.records:
            dumped = repr(record.__dict__)
            assert API_KEY not in dumped
            assert b64 not in dumped
            assert "authorization" not in dumped.lower()


class TestImages:
    @pytest.mark.parametrize(
        ("fmt", "mime", "mode"),
        [
            ("JPEG", "image/jpeg", "RGB"),
            ("PNG", "image/png", "RGBA"),
            ("WEBP", "image/webp", "RGB"),
            ("GIF", "image/gif", "P"),
            ("BMP", "image/bmp", "RGB"),
            ("TIFF", "image/tiff", "RGB"),
        ],
    )
    def test_resize_keeps_format(self, fmt: str, mime: str, mode: str) -> None:
        out = io.BytesIO()
        Image.new(mode, (400, 300)).save(out, format=fmt)
        resized = resize_image(out.getvalue(), 0.5, mime)
        assert _dims(resized) == (fmt, (200, 150))

    def test_resize_never_below_minimum_side(self) -> None:
        resized = resize_image(png_bytes(1000, 100), 0.1, "image/png")
        assert _dims(resized)[1] == (100, MIN_SIDE)


class TestServerProcess:
    def test_runs_as_process_and_is_scriptable(self) -> None:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.openai_server", "--port", str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert "listening" in proc.stdout.readline()
            base = f"http://127.0.0.1:{port}"
            behaviours = {"behaviours": [{"kind": "status", "status": 503}]}
            httpx.post(f"{base}/__control/script", json=behaviours).raise_for_status()
            first = httpx.post(f"{base}/v1/chat/completions", json={"model": "m"})
            second = httpx.post(f"{base}/v1/chat/completions", json={"model": "m"})
            assert (first.status_code, second.status_code) == (503, 200)
            assert second.json()["object"] == "chat.completion"
            assert len(httpx.get(f"{base}/__control/requests").json()) == 2
            assert httpx.get(f"{base}/v1/models").json()["data"][0]["id"] == "test-model"
        finally:
            proc.terminate()
            proc.wait(timeout=5)
