"""The analyze response against a JSON Schema (issue 13): `counts` integers only, `request_cost`
about the chat call plus `total_cost_usd`, item `source` (answer list) and `match_method`.

Two schemas judge every body: the hand-written one in `schemas/analyze_response.schema.json`
(strict: enums, no unknown fields) and the one the app itself publishes in its OpenAPI
document, so the documentation cannot drift from what is sent either."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest

from tests.api.conftest import Api
from tests.api.test_site import STEEL_TEXT, analyze
from tests.support.openai_extra_server import OpenAIExtraServer
from tests.support.openai_server import status

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "analyze_response.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def schema_errors(body: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(body)]


def openapi_validator(api: Api) -> jsonschema.Draft202012Validator:
    doc = api.client.get("/schema/openapi.json").json()
    ref = doc["paths"]["/v1/analyze/json"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({**ref, "components": doc["components"]})


def catalogs() -> dict[str, Any]:
    from adapters.embeddings.mock import MockEmbedder

    names = ["Прокат плоский из железа или нелегированной стали", "Арматура", "Трубы пластиковые"]
    vecs = asyncio.run(MockEmbedder().embed(names, model="text-embedding-3-large")).vectors
    return {"goods_catalog": [{"id": i + 1, "name": n, "vec": v} for i, (n, v) in enumerate(zip(names, vecs, strict=True))],
            "equipment_catalog": {"items": [{"id": 10, "name": "Прокатный стан", "vec": None}]}}


def test_the_schema_is_valid_and_refuses_a_string_in_counts(api: Api) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    body = analyze(api, **catalogs(), company_name="СтальПром", okved="24.10").json()
    assert schema_errors(body) == []
    for path, bad in [(("counts", "goods_source"), "GOODS_TYPE"), (("counts", "equip_source"), "EQUIPMENT_SITE"),
                      (("request_cost", "input_tokens"), "1000"), (("goods_items", 0, "source"), "exact_catalog_name"),
                      (("equipment_items", 0, "source"), "GOODS"), (("goods_items", 0, "match_method"), "GOODS"),
                      (("request_cost", "total_cost_usd"), None)]:
        broken = copy.deepcopy(body)
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        assert schema_errors(broken), path  # the old meanings can never slip back in
        assert list(openapi_validator(api).iter_errors(broken)), path
    del body["request_cost"]["total_cost_usd"]
    assert schema_errors(body)


def test_mock_responses_match_both_schemas(api: Api) -> None:
    published = openapi_validator(api)
    for request in ({}, catalogs(), {"text_par": "Пекарня «Колос» печёт хлеб и булочки. Оборудование: печь.",
                                     "return_prompt": True, "return_answer_raw": False, "pars_id": 9}):
        body = analyze(api, **request).json()
        assert schema_errors(body) == [], request
        assert [e.message for e in published.iter_errors(body)] == []
    artifact = next((api.artifacts_dir / "analyses").rglob("*.json"))
    assert schema_errors(json.loads(artifact.read_text())["result"]) == []  # the artifact keeps the same body


def test_the_published_schema_says_integers_and_the_new_fields(api: Api) -> None:
    schemas = api.client.get("/schema/openapi.json").json()["components"]["schemas"]
    out = schemas["AnalyzeOut"]["properties"]
    assert out["counts"]["additionalProperties"] == {"type": "integer"}
    assert "warnings" in schemas["AnalyzeOut"]["required"]
    assert schemas["GoodsItemOut"]["properties"]["source"]["enum"] == ["GOODS_TYPE", "GOODS"]
    assert schemas["EquipmentItemOut"]["properties"]["source"]["type"] == "null"
    item = schemas["GoodsItemOut"]["properties"]
    assert item["match_method"] == schemas["EquipmentItemOut"]["properties"]["match_method"]
    assert set(item["match_method"]["enum"]) == {"exact_catalog_name", "embedding", "embedding_below_threshold",
                                                 "no_catalog"}
    assert "total_cost_usd" in schemas["RequestCostOut"]["required"]


def test_openai_compatible_and_degraded_responses_match_the_schema(make_api: Any) -> None:
    with OpenAIExtraServer(dim=16, cached_tokens=50) as extra:
        api = make_api(inference_backend="vllm", openai_base_url=extra.base_url, openai_api_key="sk-test",
                       openai_retry_max_attempts=1)
        body = analyze(api, goods_catalog=[{"id": 1, "name": "Швеллер", "vec": [0.1] * 16}]).json()
        assert schema_errors(body) == []
        extra.fail_input(STEEL_TEXT, status(503, {"error": {"message": "overloaded"}}))
        degraded = analyze(api).json()
        assert degraded["warnings"] and schema_errors(degraded) == []
        assert [e.message for e in openapi_validator(api).iter_errors(degraded)] == []


@pytest.mark.parametrize("field", ["goods_items", "equipment_items"])
def test_items_carry_both_fields_in_the_db_payload_too(api: Api, field: str) -> None:
    body = analyze(api, **catalogs()).json()
    payload_field = {"goods_items": "goods_types", "equipment_items": "equipment"}[field]
    assert body[field] == body["db_payload"][payload_field]
    assert all({"source", "match_method"} <= set(i) for i in body[field])
