"""Issue 13 (site analysis) against the real process: `ocr-orchestrator serve` on a port, its
model calls going over TCP to the OpenAI-compatible test server. The 200 body matches the JSON
Schema of the response (integer counts, chat-call request_cost, source/match_method); a failed
verification embedding degrades; a provider 4xx is a non-retryable 502, a 5xx a retryable one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.site.answer import format_answer
from tests.api.test_site_contract import schema_errors
from tests.e2e.test_serve import base_env
from tests.support.openai_extra_server import OpenAIExtraServer, openai_error
from tests.support.openai_server import status
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e
TEXT = "Пекарня «Колос» печёт хлеб и булочки. В цехе работают ротационная печь и тестомес."
ANSWER = format_answer(description="Пекарня выпускает хлеб.", prodclass=17, prodclass_score=None,
                       equipment=["Ротационная печь"], goods=["Хлеб", "Булочки"], goods_type=[])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[OpenAIExtraServer, httpx.Client, dict[str, str]]]:
    with OpenAIExtraServer(dim=16) as extra:
        env = {**base_env(tmp_path), "INFERENCE_BACKEND": "vllm", "OPENAI_BASE_URL": extra.base_url,
               "OPENAI_API_KEY": "sk-e2e", "OPENAI_RETRY_MAX_ATTEMPTS": "2"}
        key = create_key(env, "site-contract", "client")
        with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=60) as http:
            yield extra, http, {"X-API-Key": key}


def post(http: httpx.Client, headers: dict[str, str], **body: Any) -> httpx.Response:
    return http.post("/v1/analyze/json", headers=headers, json={"text_par": TEXT, **body})


def test_the_served_response_keeps_the_original_contract(
        served: tuple[OpenAIExtraServer, httpx.Client, dict[str, str]]) -> None:
    extra, http, headers = served
    extra.chat_content = ANSWER
    r = post(http, headers, goods_catalog=[{"id": 4, "name": "Хлеб", "vec": None}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert schema_errors(body) == []
    assert (body["counts"]["goods_source"], body["counts"]["equip_source"]) == (2, 1)
    assert [(i["source"], i["match_method"]) for i in body["goods_items"]][0] == ("GOODS", "exact_catalog_name")
    cost = body["request_cost"]
    chat_line = next(line for line in cost["request_cost_breakdown"] if line["kind"] == "chat")
    assert cost["tokens_total"] == chat_line["tokens_total"] and cost["total_cost_usd"] > cost["cost_usd"]

    extra.fail_input(TEXT, status(503))  # only the prodclass-verification embedding fails
    degraded = post(http, headers)
    assert degraded.status_code == 200, degraded.text
    out = degraded.json()
    assert schema_errors(out) == [] and out["prodclass"]["score_source"] == "not_available"
    assert out["parsed"]["PRODCLASS_SCORE_ERROR"] and out["warnings"][0]["call"] == "prodclass_verification_embedding"


@pytest.mark.parametrize(("answer", "retryable"), [
    (openai_error(401, "Incorrect API key provided", code="invalid_api_key"), False),
    (status(500, {"error": {"message": "internal"}}), True),
])
def test_served_upstream_statuses(served: tuple[OpenAIExtraServer, httpx.Client, dict[str, str]], answer: Any,
                                  retryable: bool) -> None:
    extra, http, headers = served
    extra.script(answer, answer)
    r = post(http, headers)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error", r.text
    assert r.json()["error"]["details"]["retryable"] is retryable
    assert len(extra.requests_to("chat")) == (2 if retryable else 1)
