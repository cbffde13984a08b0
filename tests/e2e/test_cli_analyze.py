"""`ocr-orchestrator analyze REQUEST.json` runs the analyze use case without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_serve import base_env
from tests.support.process import cli

pytestmark = pytest.mark.e2e


def test_cli_analyze_prints_the_response(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    request = tmp_path / "req.json"
    request.write_text(json.dumps({
        "text_par": "Завод выпускает стальные трубы и арматуру. Оборудование: трубосварочный стан.",
        "pars_id": 3, "goods_catalog": {"items": [{"id": 5, "name": "Трубы стальные", "vec": None}]},
    }, ensure_ascii=False))
    result = cli(env, "analyze", str(request))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["pars_id"] == 3 and body["db_payload"]["llm_answer"] and body["catalogs"]["goods"] == 1
    assert list((tmp_path / "artifacts" / "analyses").rglob("*.json"))

    request.write_text(json.dumps({"text_par": "  "}))
    empty = cli(env, "analyze", str(request))
    assert empty.returncode == 1 and json.loads(empty.stderr.splitlines()[-1])["error"]["code"] == "bad_request"
    request.write_text(json.dumps({"text_par": "x", "goods_catalog": "bad"}))
    bad = cli(env, "analyze", str(request))
    assert bad.returncode == 1 and "goods_catalog" in bad.stderr
