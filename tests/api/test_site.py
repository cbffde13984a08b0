"""POST /v1/analyze/json and GET /v1/billing/remaining (SPEC §9) through the real app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from application.billing import month_bounds
from tests.api.conftest import Api, assert_envelope
from tests.support.openai_extra_server import OpenAIExtraServer
from tests.support.openai_server import delay, status

STEEL_TEXT = ("ООО «СтальПром» — металлургический комбинат полного цикла. Мы производим прокат плоский из стали, "
              "лист стальной горячекатаный, арматуру и швеллер. Оборудование: прокатный стан, дуговая "
              "сталеплавильная печь, машина непрерывного литья заготовок.")
MOCK_DIM = 128


def analyze(api: Api, role: str = "client", headers: dict[str, str] | None = None, **body: Any) -> Any:
    body.setdefault("text_par", STEEL_TEXT)
    return api.client.post("/v1/analyze/json", headers={**api.auth(role), **(headers or {})}, json=body)


@pytest.fixture
def extra() -> Iterator[OpenAIExtraServer]:
    with OpenAIExtraServer(dim=16, cached_tokens=100) as server:
        yield server


def test_minimal_body(api: Api) -> None:
    r = analyze(api)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"pars_id", "prompt", "prompt_len", "answer_raw", "answer_len", "description", "parsed",
                         "prodclass", "description_vector", "goods_items", "equipment_items", "counts", "timings",
                         "catalogs", "request_cost", "billing_summary", "warnings", "db_payload"}
    assert body["warnings"] == []
    assert body["prompt"] is None and body["prompt_len"] > 0 and body["answer_raw"] and body["description"]
    assert set(body["prodclass"]) == {"id", "score", "title", "score_source", "source"}
    assert 1 <= body["prodclass"]["id"] <= 110 and 0 <= body["prodclass"]["score"] <= 1
    vector = body["description_vector"]
    assert vector["dim"] == MOCK_DIM == len(vector["values"]) and vector["literal"].startswith("[")
    assert all(len(x.split(".")[1]) == 7 for x in vector["literal"][1:-1].split(",")[:5])
    payload = body["db_payload"]
    assert set(payload) == {"description", "description_vector", "prodclass", "goods_types", "equipment", "llm_answer"}
    assert payload["llm_answer"] == body["answer_raw"] and payload["goods_types"] == body["goods_items"]
    assert body["goods_items"] and all(i["match_id"] is None and i["match_method"] == "no_catalog"
                                       and i["source"] == body["parsed"]["GOODS_TYPE_SOURCE"]
                                       for i in body["goods_items"])
    assert body["equipment_items"] and all(i["source"] is None for i in body["equipment_items"])
    assert set(body["timings"]) == {"build_prompt_ms", "llm_ms", "parse_ms", "description_embed_ms",
                                    "goods_enrich_ms", "equipment_enrich_ms", "total_ms"}
    assert body["catalogs"] == {"goods": 0, "equipment": 0}
    parsed = body["parsed"]
    for key in ("DESCRIPTION", "DESCRIPTION_SCORE", "OKVED_SCORE", "PRODCLASS", "PRODCLASS_SCORE",
                "PRODCLASS_SOURCE", "PRODCLASS_SCORE_SOURCE", "PRODCLASS_EMBED_GUESS",
                "PRODCLASS_EMBED_GUESS_SCORE", "PRODCLASS_TITLE", "EQUIPMENT_LIST", "GOODS_LIST",
                "GOODS_TYPE_LIST", "GOODS_TYPE_SOURCE", "EQUIPMENT_SOURCE", "LLM_ANSWER", "DESCRIPTION_RAW",
                "GOODS_RAW", "EQUIPMENT_SITE_RAW", "EQUIPMENT_RAW", "AI_SITE_GOODS_TYPES", "AI_SITE_EQUIPMENT"):
        assert key in parsed, key
    assert parsed["EQUIPMENT_RAW"] == parsed["EQUIPMENT_SITE_RAW"] and parsed["EQUIPMENT_SOURCE"] == "EQUIPMENT_SITE"
    assert "PRODCLASS_SCORE_ERROR" not in parsed  # the score was established
    counts = body["counts"]
    assert counts["goods_source"] == len(parsed["GOODS_TYPE_LIST"]) and counts["equip_source"] == len(
        parsed["EQUIPMENT_LIST"])
    assert all(type(v) is int for v in counts.values()), counts
    row = parsed["AI_SITE_GOODS_TYPES"][0]
    assert set(row) == {"text_par_id", "goods_type", "goods_type_ID", "goods_types_score", "text_vector", "vector_dim"}
    assert body["request_cost"]["cost_usd"] > 0 and body["request_cost"]["model"] == "gpt-4o"
    assert {c["kind"] for c in body["request_cost"]["request_cost_breakdown"]} == {"chat", "embeddings"}


def test_return_prompt_and_answer_switches(api: Api) -> None:
    body = analyze(api, return_prompt=True, return_answer_raw=False, pars_id=5).json()
    assert "IB_PRODCLASS = {" in body["prompt"] and STEEL_TEXT in body["prompt"]
    assert body["answer_raw"] is None and body["db_payload"]["llm_answer"] and body["pars_id"] == 5
    assert body["parsed"]["AI_SITE_GOODS_TYPES"][0]["text_par_id"] == 5


def test_full_body_with_both_catalog_shapes_and_all_vector_shapes(api: Api) -> None:
    # Catalog vectors made the way the mock embedder makes them, so they carry meaning here.
    from adapters.embeddings.mock import MockEmbedder

    names = ["Прокат плоский из железа или нелегированной стали", "Трубы пластиковые", "Станки деревообрабатывающие"]
    vecs = asyncio.run(MockEmbedder().embed(names, model="text-embedding-3-large")).vectors
    literal = "[" + ",".join(f"{x:.7f}" for x in vecs[1]) + "]"
    goods = [{"id": 1, "name": names[0], "vec": vecs[0]},
             {"id": 2, "name": names[1], "vec": literal},
             {"id": 3, "name": names[2], "vec": {"values": [0.0] * 3, "literal": literal}},
             {"id": 4, "name": "Арматура", "vec": None},
             {"id": 5, "name": "Швеллер", "vec": [0.1, 0.2, 0.3]}]
    equipment = {"items": [{"id": 10, "name": "Прокатный стан", "vec": {"values": vecs[0], "literal": ""}}]}
    body = analyze(api, goods_catalog=goods, equipment_catalog=equipment, company_name="СтальПром",
                   okved="24.10").json()
    assert body["catalogs"] == {"goods": 5, "equipment": 1}
    counts = body["counts"]
    assert counts["goods_catalog_vectors_used"] == 3 and counts["goods_catalog_names_embedded"] == 2
    assert counts["goods_catalog_dimension_mismatches"] == 1
    first = body["goods_items"][0]
    assert first["text"] == names[0] and first["match_id"] == 1 and first["score"] == 1.0
    assert first["match_method"] == "exact_catalog_name"  # steel refinement put the canonical name first
    assert first["source"] == body["parsed"]["GOODS_TYPE_SOURCE"] == "GOODS_TYPE"
    assert body["equipment_items"][0]["source"] is None
    assert counts["goods_matched"] == sum(1 for i in body["goods_items"] if i["match_id"] is not None)


@pytest.mark.parametrize(("catalog", "path"), [
    ("a string", "$.goods_catalog"),
    ({"items": "nope"}, "$.goods_catalog.items"),
    ({"things": []}, "$.goods_catalog"),
    ([{"name": "x"}], "$.goods_catalog[0].id"),
    ([{"id": True, "name": "x"}], "$.goods_catalog[0].id"),
    ([{"id": 1, "name": ""}], "$.goods_catalog[0].name"),
    ([{"id": 1, "name": "x", "vec": "not a literal"}], "$.goods_catalog[0].vec"),
    ([{"id": 1, "name": "x", "vec": [[0.1]]}], "$.goods_catalog[0].vec"),
    ([{"id": 1, "name": "x", "vec": {"foo": 1}}], "$.goods_catalog[0].vec"),
    ([{"id": 1, "name": "x"}, 7], "$.goods_catalog[1]"),
])
def test_bad_catalog_shapes_are_422_with_the_path(api: Api, catalog: Any, path: str) -> None:
    error = assert_envelope(analyze(api, goods_catalog=catalog), 422, "validation_error")
    assert error["details"]["errors"][0]["path"].startswith(path)


def test_empty_text_is_400_and_bad_ids_422(api: Api) -> None:
    assert_envelope(analyze(api, text_par="   \n "), 400, "bad_request")
    assert_envelope(analyze(api, pars_id=0), 422, "validation_error")
    r = api.client.post("/v1/analyze/json", headers=api.auth(), json={"pars_id": 1})
    assert_envelope(r, 422, "validation_error")


def test_unknown_fields_are_ignored(api: Api) -> None:
    assert analyze(api, something_new={"x": 1}).status_code == 200


@pytest.mark.parametrize(("prefix", "status_code", "code"), [
    ("mock_fail_upstream", 503, "upstream_unavailable"),
    ("mock_fail_timeout", 504, "upstream_timeout"),
    ("mock_fail_answer", 502, "invalid_model_output"),
])
def test_upstream_failures_map_to_retryable_5xx(api: Api, prefix: str, status_code: int, code: str) -> None:
    error = assert_envelope(analyze(api, text_par=f"{prefix} {STEEL_TEXT}"), status_code, code)
    if code == "invalid_model_output":
        assert error["details"]["reason"]
    else:
        assert error["details"]["retryable"] is True


def test_an_artifact_per_call_and_retries_never_409(api: Api) -> None:
    headers = {"X-Request-ID": "analyze-rid-1"}
    first = analyze(api, headers=headers, goods_catalog=[{"id": 1, "name": "x", "vec": [0.5] * MOCK_DIM}])
    again = analyze(api, headers=headers)
    assert first.status_code == again.status_code == 200
    stored = sorted((api.artifacts_dir / "analyses").rglob("*.json"))
    assert [p.name.startswith("analyze-rid-1") for p in stored] == [True, True]
    text = next(p for p in stored if p.name == "analyze-rid-1.json").read_text()  # the first call's
    assert '"goods_catalog":[{"id":1,"name":"x"}]' in text and "0.5,0.5" not in text
    failed = analyze(api, text_par="mock_fail_upstream now", headers={"X-Request-ID": "analyze-fail-1"})
    assert failed.status_code == 503
    assert list((api.artifacts_dir / "analyses").rglob("analyze-fail-1.json"))


def test_billing_not_configured(api: Api) -> None:
    body = api.client.get("/v1/billing/remaining", headers=api.auth("client")).json()
    assert body["configured"] is False and body["error"] == "OPENAI_ADMIN_KEY not configured"
    assert body["spent_usd"] is None and body["remaining_usd"] is None
    assert analyze(api).json()["billing_summary"]["configured"] is False


def test_billing_with_the_costs_api(make_api: Any, extra: OpenAIExtraServer) -> None:
    month_start, _ = month_bounds(datetime.now(UTC))
    extra.set_costs([[0.5, (0.25, "proj_a")], [1.0]], page_size=1, start_time=month_start)
    api = make_api(openai_admin_key="admin-key-xyz", billing_costs_base_url=extra.base_url,
                   billing_monthly_limit_usd=10.0)
    body = api.client.get("/v1/billing/remaining", headers=api.auth()).json()
    assert body["configured"] is True and body["error"] is None
    assert body["spent_usd"] == body["month_to_date_spend_usd"] == body["spend_month_to_date_usd"] == 1.75
    assert body["remaining_usd"] == 8.25 and body["limit_usd"] == body["budget_monthly_usd"] == 10.0
    pages = extra.requests_to("costs")
    assert len(pages) == 2 and pages[0].query["start_time"] == [str(month_start)]  # every page followed
    assert pages[0].headers["authorization"] == "Bearer admin-key-xyz"
    project = api.client.get("/v1/billing/remaining?project_id=proj_a", headers=api.auth()).json()
    assert project["spent_usd"] == 0.25 and extra.requests_to("costs")[-1].query["project_ids"] == ["proj_a"]
    seen = len(extra.requests_to("costs"))
    api.client.get("/v1/billing/remaining?project_id=proj_a", headers=api.auth())
    assert len(extra.requests_to("costs")) == seen  # cached per project


def test_billing_provider_failure_is_reported_not_raised(make_api: Any, extra: OpenAIExtraServer) -> None:
    extra.script(status(500), endpoint="costs")
    api = make_api(openai_admin_key="k", billing_costs_base_url=extra.base_url, billing_prepaid_credits_usd=5.0)
    body = api.client.get("/v1/billing/remaining", headers=api.auth()).json()
    assert body["configured"] is True and body["error"] and body["spent_usd"] is None


def test_a_slow_costs_api_never_delays_analyze_more_than_two_seconds(make_api: Any, extra: OpenAIExtraServer) -> None:
    extra.script(delay(6), endpoint="costs")
    api = make_api(openai_admin_key="k", billing_costs_base_url=extra.base_url)
    started = time.monotonic()
    body = analyze(api).json()
    assert body["billing_summary"] is None and time.monotonic() - started < 5


def test_openai_backend_against_an_openai_compatible_server(make_api: Any, extra: OpenAIExtraServer) -> None:
    api = make_api(inference_backend="vllm", openai_base_url=extra.base_url, openai_api_key="sk-test")
    body = analyze(api, chat_model="gpt-4o-2024-11-20",
                   goods_catalog=[{"id": 1, "name": "Швеллер", "vec": [0.1] * 16},
                                  {"id": 2, "name": "Арматура", "vec": [0.2] * 8}]).json()
    assert body["description_vector"]["dim"] == 16
    assert body["counts"]["goods_catalog_dimension_mismatches"] == 1
    cost = body["request_cost"]
    assert cost["cached_input_tokens"] >= 100 and cost["cost_usd"] > 0 and cost["unpriced_models"] == []
    chat = extra.requests_to("chat")[0]
    assert chat.headers["authorization"] == "Bearer sk-test" and chat.headers["x-request-id"]
    embed_calls = extra.requests_to("embeddings")
    assert all(r.body["model"] == "text-embedding-3-large" for r in embed_calls)
