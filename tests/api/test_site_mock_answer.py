"""The README's site-analysis example through the app on the mock backend (issue 14, item 9):
the answer a newcomer sees first reads like a plausible one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.conftest import Api

README_BODY = {
    "text_par": "Завод выпускает стальные трубы и арматуру. Оборудование: трубосварочный стан.",
    "pars_id": 3, "company_name": "ТрубСталь", "okved": "24.20",
    "goods_catalog": [{"id": 5, "name": "Трубы стальные", "vec": "[0.1,-0.2,0.3]"}],
    "equipment_catalog": {"items": [{"id": 7, "name": "Трубосварочный стан", "vec": None}]},
}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "request.json"
STEEL_CLASSES = {31}  # «Литейные предприятия чёрных металлов (чугун и сталь)»


def analyze(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post("/v1/analyze/json", headers=api.auth("client"), json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_readme_example_lists_phrases_not_verbs_and_a_steel_class(api: Api) -> None:
    body = analyze(api, README_BODY)
    parsed = body["parsed"]
    assert parsed["GOODS_LIST"] == ["стальные трубы", "арматуру"]
    assert parsed["EQUIPMENT_LIST"] == ["трубосварочный стан"]
    assert body["prodclass"]["id"] in STEEL_CLASSES and body["prodclass"]["source"] == "model_reply"
    equipment = body["equipment_items"]
    assert [(i["text"], i["match_id"], i["match_method"]) for i in equipment] == [
        ("трубосварочный стан", 7, "exact_catalog_name")]


def test_examples_request_json_gets_its_catalog_items(api: Api) -> None:
    body = analyze(api, json.loads(EXAMPLE.read_text(encoding="utf-8")))
    parsed = body["parsed"]
    assert parsed["EQUIPMENT_LIST"] == ["трубосварочный стан", "ленточнопильный станок"]
    assert not {"выпускает", "производит"} & {w.casefold() for w in parsed["GOODS_LIST"] + parsed["EQUIPMENT_LIST"]}
    assert body["prodclass"]["id"] in STEEL_CLASSES
    assert [i["match_id"] for i in body["equipment_items"]] == [7, 8]


def test_readme_example_answer_stays_small(api: Api) -> None:
    # Every item's vector appears five times (values and literal, db_payload, AI_SITE_* preview);
    # the mock's 128 dimensions keep the README's one sentence near 60 KB (256 made it 116 KB).
    response = api.client.post("/v1/analyze/json", headers=api.auth("client"), json=README_BODY)
    assert response.status_code == 200
    assert response.json()["description_vector"]["dim"] == 128
    assert len(response.content) < 70_000
