"""Issue 13, site analysis: every field as the original systems' clients read it, through
`POST /v1/analyze/json` against a real OpenAI-compatible HTTP server (chat + embeddings).

1. `counts` holds integers; 2. `request_cost` is the chat call, `total_cost_usd` everything;
3. item `source` is the answer list, `match_method` how it matched; 4. `EQUIPMENT_RAW`,
`PRODCLASS_SCORE_ERROR`; 5. the prodclass-verification embedding degrades (ADR 0073);
6. an upstream 4xx is a non-retryable 502, 5xx/timeouts are retryable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from domain.cost import PriceTable
from domain.site.answer import format_answer
from tests.api.conftest import Api, assert_envelope
from tests.api.test_site import STEEL_TEXT, analyze
from tests.api.test_site_contract import schema_errors
from tests.support.openai_extra_server import OpenAIExtraServer, fake_vector, openai_error
from tests.support.openai_server import Status, delay, status

DIM = 16
BAKERY = "Пекарня «Колос» печёт хлеб и булочки. В цехе работают ротационная печь и тестомес."


def answer(*, prodclass: str | int = 17, prodclass_score: float | None = 0.8, goods_type: list[str] | None = None,
           goods: list[str] | None = None, equipment: list[str] | None = None) -> str:
    return format_answer(description="Пекарня выпускает хлеб.", prodclass=prodclass, prodclass_score=prodclass_score,
                         equipment=["Ротационная печь", "Тестомес"] if equipment is None else equipment,
                         goods=["Хлеб", "Булочки", "Батоны"] if goods is None else goods,
                         goods_type=["Хлеб и хлебобулочные изделия"] if goods_type is None else goods_type)


@pytest.fixture
def extra() -> Iterator[OpenAIExtraServer]:
    with OpenAIExtraServer(dim=DIM, cached_tokens=100) as server:
        yield server


@pytest.fixture
def api(make_api: Any, extra: OpenAIExtraServer) -> Api:
    return make_api(inference_backend="vllm", openai_base_url=extra.base_url, openai_api_key="sk-test",
                    openai_retry_max_attempts=2, openai_timeout_s=1.0)


def ok_body(api: Api, **body: Any) -> dict[str, Any]:
    r = analyze(api, **body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert schema_errors(out) == []
    return out


# --- 1. counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(("goods_type", "source"), [(["Хлеб и хлебобулочные изделия"], "GOODS_TYPE"),
                                                     ([], "GOODS")])
def test_counts_are_the_lengths_of_the_lists_used(api: Api, extra: OpenAIExtraServer, goods_type: list[str],
                                                  source: str) -> None:
    extra.chat_content = answer(goods_type=goods_type)
    body = ok_body(api, text_par=BAKERY)
    counts, parsed = body["counts"], body["parsed"]
    assert all(type(v) is int for v in counts.values()), counts
    assert parsed["GOODS_TYPE_SOURCE"] == source and parsed["EQUIPMENT_SOURCE"] == "EQUIPMENT_SITE"
    assert counts["goods_source"] == len(parsed["GOODS_TYPE_LIST"]) == (len(goods_type) or 3)
    assert counts["equip_source"] == len(parsed["EQUIPMENT_LIST"]) == 2
    assert counts["goods_enriched"] == counts["goods_source"] and counts["goods_matched"] == 0


# --- 2. request_cost ---------------------------------------------------------------------------


def test_request_cost_is_the_chat_call_and_total_cost_every_call(api: Api, extra: OpenAIExtraServer) -> None:
    extra.script(status(500, {"error": {"message": "boom"}}))  # a failed attempt, then the answer
    body = ok_body(api, text_par=BAKERY, chat_model="gpt-4o-2024-11-20",
                   goods_catalog=[{"id": 1, "name": "Хлеб", "vec": None}])
    sent = extra.requests_to("chat")[-1].body
    prompt_tokens = max(1, len("\n".join(m["content"] for m in sent["messages"])) // 4)
    output_tokens = max(1, len(json.dumps(body["answer_raw"], ensure_ascii=False)) // 4)
    cost = body["request_cost"]
    assert (cost["model"], cost["input_tokens"], cost["cached_input_tokens"], cost["output_tokens"]) == (
        "gpt-4o-2024-11-20", prompt_tokens, 100, output_tokens)
    assert cost["tokens_total"] == prompt_tokens + output_tokens
    assert cost["cost_usd"] == PriceTable.load().call_cost("gpt-4o", prompt_tokens, 100, output_tokens).cost_usd
    lines = cost["request_cost_breakdown"]
    assert [(line["kind"], line["ok"]) for line in lines if line["kind"] == "chat"] == [("chat", False), ("chat", True)]
    embedded = sum(line["tokens_total"] for line in lines if line["kind"] == "embeddings")
    assert embedded > 0 and cost["input_tokens"] < prompt_tokens + embedded  # embeddings are not chat input
    assert cost["total_cost_usd"] == round(sum(line["cost_usd"] for line in lines), 8) > cost["cost_usd"]


def test_a_failed_request_reports_its_total_cost(api: Api, extra: OpenAIExtraServer) -> None:
    extra.script(status(503), status(503))
    error = assert_envelope(analyze(api, text_par=BAKERY), 503, "upstream_unavailable")
    cost = error["details"]["request_cost"]
    assert cost["input_tokens"] == cost["cost_usd"] == 0  # no chat call answered
    assert [line["ok"] for line in cost["request_cost_breakdown"] if line["kind"] == "chat"] == [False, False]
    assert cost["total_cost_usd"] == round(sum(line["cost_usd"] for line in cost["request_cost_breakdown"]), 8)


# --- 3. source and match_method ----------------------------------------------------------------


def test_item_source_is_the_answer_list_and_match_method_how_it_matched(make_api: Any,
                                                                         extra: OpenAIExtraServer) -> None:
    api = make_api(inference_backend="vllm", openai_base_url=extra.base_url, openai_api_key="sk-test",
                   catalog_match_min=0.9)
    extra.chat_content = answer(goods_type=[], goods=["Хлеб", "Булочки", "Батоны"])
    body = ok_body(api, text_par=BAKERY, goods_catalog=[
        {"id": 1, "name": "хлеб", "vec": None},                                 # exact name
        {"id": 2, "name": "Сдоба", "vec": fake_vector("Булочки", DIM)},         # the item's own vector
    ])
    methods = {i["text"]: (i["source"], i["match_method"], i["match_id"]) for i in body["goods_items"]}
    assert methods == {"Хлеб": ("GOODS", "exact_catalog_name", 1), "Булочки": ("GOODS", "embedding", 2),
                       "Батоны": ("GOODS", "embedding_below_threshold", None)}
    assert [(i["source"], i["match_method"]) for i in body["equipment_items"]] == [(None, "no_catalog")] * 2
    assert body["db_payload"]["goods_types"] == body["goods_items"]
    assert [r["goods_type_ID"] for r in body["parsed"]["AI_SITE_GOODS_TYPES"]] == [1, 2, None]
    artifact = next((api.artifacts_dir / "analyses").rglob("*.json"))
    stored = json.loads(artifact.read_text())["result"]
    assert stored["goods_items"][0]["source"] == "GOODS" and stored["goods_items"][0]["match_method"]


# --- 4 and 5. parsed audit keys; the verification embedding degrades ---------------------------


def site_embedding_fails(extra: OpenAIExtraServer, code: int = 503) -> None:
    extra.fail_input(BAKERY, openai_error(code, "the embedding service is overloaded", kind="server_error"))


@pytest.mark.parametrize(("code", "error_code", "retryable"), [(503, "upstream_unavailable", True),
                                                              (400, "upstream_error", False)])
def test_a_failed_verification_embedding_degrades_to_not_available(api: Api, extra: OpenAIExtraServer, code: int,
                                                                   error_code: str, retryable: bool) -> None:
    site_embedding_fails(extra, code)
    extra.chat_content = answer(prodclass=17, prodclass_score=None)
    body = ok_body(api, text_par=BAKERY,
                   goods_catalog=[{"id": 1, "name": "Хлеб и хлебобулочные изделия", "vec": None}])
    parsed = body["parsed"]
    assert body["prodclass"]["id"] == 17 and body["prodclass"]["source"] == "model_reply"
    assert (body["prodclass"]["score"], body["prodclass"]["score_source"]) == (0.0, "not_available")
    assert (parsed["PRODCLASS_SCORE"], parsed["PRODCLASS_SCORE_SOURCE"]) == (0.0, "not_available")
    assert parsed["PRODCLASS_EMBED_GUESS"] is None and parsed["PRODCLASS_EMBED_GUESS_SCORE"] is None
    assert "prodclass_verification_embedding" in parsed["PRODCLASS_SCORE_ERROR"]
    assert parsed["EQUIPMENT_RAW"] == parsed["EQUIPMENT_SITE_RAW"] == "Ротационная печь; Тестомес"
    [warning] = body["warnings"]
    assert warning["call"] == "prodclass_verification_embedding" and warning["kind"] == "embeddings"
    assert (warning["code"], warning["retryable"]) == (error_code, retryable)
    assert warning["model"] == "text-embedding-3-large" and "overloaded" in warning["message"]
    assert body["db_payload"]["goods_types"][0]["match_method"] == "exact_catalog_name"
    failed = [line for line in body["request_cost"]["request_cost_breakdown"] if not line["ok"]]
    assert failed and all(line["kind"] == "embeddings" for line in failed)  # accounted, not hidden


def test_with_the_model_score_only_the_warning_tells(api: Api, extra: OpenAIExtraServer) -> None:
    site_embedding_fails(extra)
    extra.chat_content = answer(prodclass=17, prodclass_score=0.8)
    body = ok_body(api, text_par=BAKERY)
    assert (body["prodclass"]["score"], body["prodclass"]["score_source"]) == (0.8, "model_reply")
    assert "PRODCLASS_SCORE_ERROR" not in body["parsed"]
    assert [w["call"] for w in body["warnings"]] == ["prodclass_verification_embedding"]


def test_no_class_and_no_guess_is_invalid_model_output_naming_the_failed_call(api: Api,
                                                                              extra: OpenAIExtraServer) -> None:
    site_embedding_fails(extra)
    extra.chat_content = answer(prodclass="нет")
    error = assert_envelope(analyze(api, text_par=BAKERY), 502, "invalid_model_output")
    assert error["details"]["reason"] == "no production class" and error["details"]["retryable"] is True
    assert [w["call"] for w in error["details"]["warnings"]] == ["prodclass_verification_embedding"]


def test_an_established_score_has_no_score_error_and_no_warnings(make_api: Any, extra: OpenAIExtraServer) -> None:
    api = make_api(inference_backend="vllm", openai_base_url=extra.base_url, prodclass_override_min=1.0)
    extra.chat_content = answer(prodclass=17, prodclass_score=None)
    body = ok_body(api, text_par=BAKERY)
    assert body["prodclass"]["score_source"] == "text_embedding_verify" and body["warnings"] == []
    assert "PRODCLASS_SCORE_ERROR" not in body["parsed"] and body["parsed"]["PRODCLASS_EMBED_GUESS"] is not None


def test_failed_catalog_matching_is_still_an_error(api: Api, extra: OpenAIExtraServer) -> None:
    extra.chat_content = answer()
    extra.fail_input("Хлеб и хлебобулочные изделия", status(503))
    error = assert_envelope(analyze(api, text_par=BAKERY, goods_catalog=[{"id": 1, "name": "Хлеб", "vec": None}]),
                            503, "upstream_unavailable")
    assert error["details"]["retryable"] is True


# --- 6. upstream 4xx vs 5xx ----------------------------------------------------------------------


@pytest.mark.parametrize(("behaviours", "status_code", "code", "retryable", "attempts"), [
    ([openai_error(401, "Incorrect API key provided", code="invalid_api_key")], 502, "upstream_error", False, 1),
    ([openai_error(400, "This model's maximum context length is 128000 tokens")], 502, "upstream_error", False, 1),
    ([openai_error(404, "The model `gpt-9` does not exist", code="model_not_found")], 502, "upstream_error", False, 1),
    ([status(500, {"error": {"message": "internal"}})] * 2, 502, "upstream_error", True, 2),
    ([status(502, "Bad Gateway")] * 2, 502, "upstream_error", True, 2),
    ([status(503)] * 2, 503, "upstream_unavailable", True, 2),
    ([status(429, headers={"Retry-After": "0"})] * 2, 503, "upstream_unavailable", True, 2),
    ([delay(3)] * 2, 504, "upstream_timeout", True, 2),
])
def test_chat_failures_keep_the_upstream_meaning(api: Api, extra: OpenAIExtraServer, behaviours: list[Status],
                                                 status_code: int, code: str, retryable: bool, attempts: int) -> None:
    extra.script(*behaviours)
    error = assert_envelope(analyze(api, text_par=BAKERY), status_code, code)
    assert error["details"]["retryable"] is retryable
    assert len(extra.requests_to("chat")) == attempts == error["details"]["attempts"]  # a 4xx is never retried
    if not retryable:
        assert error["details"]["http_status"] in (400, 401, 404)
        assert "sk-test" not in json.dumps(error)


def test_an_embeddings_4xx_of_a_required_call_is_a_non_retryable_502(api: Api, extra: OpenAIExtraServer) -> None:
    extra.chat_content = answer()
    extra.fail_input("Пекарня выпускает хлеб.", openai_error(400, "'$.input' is invalid."))  # the description
    error = assert_envelope(analyze(api, text_par=BAKERY), 502, "upstream_error")
    assert error["details"]["retryable"] is False and error["details"]["http_status"] == 400
    assert "calls" not in error["details"]  # the attempts are in request_cost, once
    assert any(line["kind"] == "embeddings" and not line["ok"]
               for line in error["details"]["request_cost"]["request_cost_breakdown"])


def test_the_steel_text_still_works_against_the_server(api: Api) -> None:
    body = ok_body(api, text_par=STEEL_TEXT, company_name="СтальПром", okved="24.10")
    assert body["parsed"]["GOODS_TYPE_SOURCE"] == "GOODS_TYPE" and body["warnings"] == []
