"""What vLLM answers, as a client of ``POST /v1/extract`` sees it (issue 13, items 9 and 10):
the real app, the vLLM adapter, and an OpenAI-compatible test server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.api.conftest import Api
from tests.support.images import image_bytes
from tests.support.openai_server import OpenAIServer, Status, ok, status


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


@pytest.fixture
def api(make_api: Any, server: OpenAIServer) -> Api:
    return make_api(inference_backend="vllm", vllm_base_url=server.base_url, vllm_retry_max_attempts=2)


def extract(api: Api, request_id: str, size: tuple[int, int] = (64, 48)) -> dict[str, Any]:
    r = api.client.post("/v1/extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "request_id": request_id, "mime_type": "image/png",
        "image_base64": base64.b64encode(image_bytes(size=size)).decode()})
    assert r.status_code == 200, r.text
    return r.json()


# --- item 9: an error with an empty body --------------------------------------------------


def test_an_empty_404_says_what_happened_and_keeps_the_upstream_request_id(api: Api, server: OpenAIServer) -> None:
    server.script(Status(404, "", {"X-Request-ID": "vllm-7f3a9c"}))
    body = extract(api, "empty-404")
    error = body["error"]
    assert error["code"] == "upstream_error" and error["retryable"] is False
    assert error["message"] == "HTTP 404 Not Found from the model server"
    assert error["details"] == {"http_status": 404, "upstream_request_id": "vllm-7f3a9c"}
    assert body["error_history"] == [{"attempt": 1, "code": "upstream_error", "http_status": 404,
                                      "message": "HTTP 404 Not Found from the model server"}]
    assert api.artifact(body["artifact_rel"])["error"] == error  # the artifact tells the same


def test_an_empty_5xx_is_retried_and_named_by_its_status(api: Api, server: OpenAIServer) -> None:
    server.script(Status(502, "", {}), Status(502, "", {"request-id": "gw-2"}))
    error = extract(api, "empty-502")["error"]
    assert error["code"] == "upstream_error" and error["retryable"] is True
    assert error["message"] == "HTTP 502 Bad Gateway from the model server"
    assert error["details"] == {"http_status": 502, "upstream_request_id": "gw-2"}


def test_a_body_with_a_message_keeps_it_and_no_request_id_means_none(api: Api, server: OpenAIServer) -> None:
    server.script(status(400, {"object": "error", "message": "Invalid image", "type": "BadRequestError",
                               "param": None, "code": 400}))
    error = extract(api, "with-message")["error"]
    assert error["message"] == "HTTP 400: Invalid image"
    assert error["details"] == {"http_status": 400}


# --- item 10: every context-overflow wording takes the shrink path -------------------------


def vllm_400(message: str) -> Status:
    return Status(400, {"object": "error", "message": message, "type": "BadRequestError", "param": None,
                        "code": 400})


OVERFLOWS = [
    "max_tokens must be at least 1, got -7584. (parameter=max_tokens, value=-7584)",
    "This model's maximum context length is 4096 tokens. However, you requested 1024 output tokens and your "
    "prompt contains at least 9000 input tokens, for a total of at least 10024 tokens. Please reduce the length "
    "of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=9000)",
    "Input length (11680) exceeds model's maximum context length (4096).",
    "This model's maximum context length is 4096 tokens. However, you requested 10000 tokens (9000 in the "
    "messages, 1000 in the completion). Please reduce the length of the messages or completion.",
]


@pytest.mark.parametrize("message", OVERFLOWS, ids=["negative-max-tokens", "at-least-input-tokens",
                                                    "input-length-exceeds", "messages-or-completion"])
def test_a_context_overflow_shrinks_the_image_and_retries(api: Api, server: OpenAIServer, message: str) -> None:
    server.script(vllm_400(message), ok())
    body = extract(api, "overflow-" + str(OVERFLOWS.index(message)), size=(800, 600))
    assert body["error"] is None and body["parsed"] is not None
    assert body["meta"]["attempts"] == 2 and 0.1 <= body["meta"]["resize_scale"] < 1.0
    [first] = body["error_history"]
    assert (first["code"], first["http_status"]) == ("context_overflow", 400)
    sizes = [Image.open(io.BytesIO(r.image()[1])).size for r in server.chat_requests]
    assert sizes[0] == (800, 600) and sizes[1][0] < 800 and sizes[1][1] < 600


def test_an_overflow_that_never_fits_ends_as_context_overflow(api: Api, server: OpenAIServer) -> None:
    server.script(*[vllm_400(OVERFLOWS[0])] * 4)
    error = extract(api, "overflow-forever", size=(800, 600))["error"]
    assert error["code"] == "context_overflow" and error["retryable"] is False
    assert error["message"].startswith("HTTP 400: max_tokens must be at least 1, got -7584")
    assert len(server.chat_requests) == 4  # the first call and three shrinks, never a plain retry
