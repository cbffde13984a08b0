"""POST /v1/extract (SPEC §6.2, §6.5) with the mock backend."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_b64, image_bytes

TASKS = ("receipt_fields_v1", "items_light_v1", "receipt_v1", "invoice_v1")


def extract(api: Api, role: str = "admin", **body: Any) -> Any:
    body.setdefault("task_id", "receipt_fields_v1")
    if "image_ref" not in body:
        body.setdefault("image_base64", image_b64())
        body.setdefault("mime_type", "image/png")
    return api.client.post("/v1/extract", headers=api.auth(role), json=body)


@pytest.mark.parametrize("task_id", TASKS)
def test_success_returns_a_schema_valid_object_and_writes_an_artifact(api: Api, task_id: str) -> None:
    r = extract(api, task_id=task_id, request_id=f"ok-{task_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "created_at", "task_id", "artifact_rel", "model_id", "prompt_sha256",
                         "schema_sha256", "timings_ms", "parsed", "schema_valid", "schema_errors", "checks",
                         "error", "error_history", "meta", "raw"}
    assert body["request_id"] == f"ok-{task_id}" == r.headers["x-request-id"]
    assert body["error"] is None and body["schema_valid"] is True and isinstance(body["parsed"], dict)
    assert body["parsed"] and body["schema_errors"] is None and body["error_history"] is None
    assert body["model_id"] == "mock" and len(body["prompt_sha256"]) == 64 and len(body["schema_sha256"]) == 64
    assert set(body["timings_ms"]) == {"inference", "parse_validate", "total"}
    assert body["meta"]["attempts"] == 1 and body["raw"] is None
    assert body["artifact_rel"] == f"extracts/{body['created_at'][:10]}/ok-{task_id}.json"
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 20
    artifact = api.artifact(body["artifact_rel"])
    assert artifact["parsed"] == body["parsed"] and artifact["raw"]
    assert artifact["auth"] == {"key_id": "admin-key", "role": "admin"}
    assert artifact["input"]["image_base64_len"] > 0 and "image_base64" not in artifact["input"]


def test_receipt_checks_are_reported(api: Api) -> None:
    body = extract(api, task_id="receipt_v1").json()
    assert body["checks"] and all({"rule", "ok", "detail"} == set(c) for c in body["checks"])


def test_artifact_never_holds_the_image(api: Api) -> None:
    b64 = image_b64(size=(200, 200))
    body = extract(api, image_base64=b64, request_id="no-image-kept").json()
    stored = (api.artifacts_dir / body["artifact_rel"]).read_text()
    assert b64[:80] not in stored


def test_header_request_id_is_used_when_the_body_has_none(api: Api) -> None:
    r = api.client.post("/v1/extract", headers={**api.auth(), "X-Request-ID": "from-header-1"},
                        json={"task_id": "receipt_fields_v1", "image_base64": image_b64(), "mime_type": "image/png"})
    assert r.json()["request_id"] == "from-header-1" == r.headers["x-request-id"]


def test_body_request_id_wins_over_the_header(api: Api) -> None:
    r = api.client.post("/v1/extract", headers={**api.auth(), "X-Request-ID": "from-header-2"},
                        json={"task_id": "receipt_fields_v1", "image_base64": image_b64(),
                              "mime_type": "image/png", "request_id": "from-body-2"})
    assert r.json()["request_id"] == "from-body-2" == r.headers["x-request-id"]


@pytest.mark.parametrize(("prefix", "code"), [
    ("mock_fail_json", "invalid_model_output"),
    ("mock_fail_schema", "schema_validation_failed"),
    ("mock_fail_upstream", "upstream_unavailable"),
])
def test_model_failures_are_200_with_error_and_an_artifact(api: Api, prefix: str, code: str) -> None:
    r = extract(api, request_id=f"{prefix}_1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["error"]["code"] == code and body["parsed"] is None and body["schema_valid"] is False
    assert set(body["error"]) == {"code", "message", "retryable", "details"}
    artifact = api.artifact(body["artifact_rel"])
    assert artifact["error"]["code"] == code
    if code == "schema_validation_failed":
        assert body["schema_errors"] and all({"path", "message"} == set(e) for e in body["schema_errors"])
    if code == "upstream_unavailable":
        assert body["error"]["retryable"] is True and body["error_history"]
        assert body["meta"]["attempts"] == len(body["error_history"])


def test_invalid_base64(api: Api) -> None:
    assert_envelope(extract(api, image_base64="%%%not-base64%%%"), 400, "bad_request")


def test_not_an_image(api: Api) -> None:
    r = extract(api, image_base64=base64.b64encode(b"%PDF-1.4 definitely not an image").decode())
    assert_envelope(r, 400, "bad_request")


def test_oversized_image(make_api: Any) -> None:
    api = make_api(max_image_bytes=2000)
    r = extract(api, image_base64=base64.b64encode(image_bytes("BMP", (100, 100))).decode(), mime_type="image/bmp")
    assert_envelope(r, 413, "payload_too_large")


def test_wrong_mime_type(api: Api) -> None:
    assert_envelope(extract(api, mime_type="application/pdf"), 415, "unsupported_media_type")


def test_unknown_task_lists_the_available_ones(api: Api) -> None:
    error = assert_envelope(extract(api, task_id="no_such_task"), 404, "unknown_task")
    assert sorted(error["details"]["available"]) == sorted(TASKS)


def test_bad_request_id(api: Api) -> None:
    for bad in ("has space", "../up", "-leading-dash", "x" * 129):
        assert_envelope(extract(api, request_id=bad), 422, "validation_error")


def test_duplicate_request_id_is_409_and_the_artifact_is_unchanged(api: Api) -> None:
    first = extract(api, request_id="dup-1").json()
    path = api.artifacts_dir / first["artifact_rel"]
    before = path.read_bytes()
    r = extract(api, request_id="dup-1", task_id="items_light_v1")
    assert_envelope(r, 409, "artifact_exists")
    assert path.read_bytes() == before


def test_exactly_one_image_source(api: Api) -> None:
    r = api.client.post("/v1/extract", headers=api.auth(), json={"task_id": "receipt_fields_v1"})
    assert_envelope(r, 422, "validation_error")
    r = extract(api, image_ref="inputs/admin-key/ab/abc.png")
    assert r.status_code == 404  # exists-check happens on the ref itself
    r = api.client.post("/v1/extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "image_base64": image_b64(), "image_ref": "inputs/admin-key/x.png"})
    assert_envelope(r, 422, "validation_error")


def test_image_ref_of_the_same_owner_is_read(api: Api) -> None:
    ref = "inputs/client-key/ab/abcdef.png"
    target = api.artifacts_dir / ref
    target.parent.mkdir(parents=True)
    target.write_bytes(image_bytes())
    r = extract(api, role="client", image_ref=ref, mime_type="image/png", request_id="by-ref-1")
    assert r.status_code == 200, r.text
    assert api.artifact(r.json()["artifact_rel"])["input"]["image_ref"] == ref


def test_image_ref_of_another_owner_or_escaping_is_refused(api: Api) -> None:
    ref = "inputs/other-client/ab/abcdef.png"
    target = api.artifacts_dir / ref
    target.parent.mkdir(parents=True)
    target.write_bytes(image_bytes())
    assert_envelope(extract(api, role="client", image_ref=ref), 404, "not_found")
    assert_envelope(extract(api, role="client", image_ref="inputs/client-key/../other-client/ab/abcdef.png"),
                    400, "bad_request")


def test_extract_requires_a_key(make_api: Any) -> None:
    api = make_api(auth_enabled=True)
    r = api.client.post("/v1/extract", json={"task_id": "receipt_fields_v1", "image_base64": image_b64()})
    assert_envelope(r, 401, "auth_missing")


def test_raw_only_for_debug_readers_in_debug_mode(make_api: Any) -> None:
    api = make_api(debug_mode=True)
    assert extract(api, role="admin").json()["raw"]
    assert extract(api, role="debugger").json()["raw"] is None
    api_off = make_api(debug_mode=False)
    assert extract(api_off, role="admin").json()["raw"] is None


def test_debug_overrides_are_404_when_debug_is_off(api: Api) -> None:
    r = extract(api, debug={"temperature": 0.5})
    assert_envelope(r, 404, "not_found")


def test_debug_overrides_need_debug_run(make_api: Any) -> None:
    api = make_api(debug_mode=True)
    error = assert_envelope(extract(api, role="client", debug={"temperature": 0.5}), 403, "forbidden")
    assert error["details"]["required_scopes"] == ["debug:run"]


def test_debug_schema_and_prompt_override(make_api: Any) -> None:
    api = make_api(debug_mode=True)
    schema = {"type": "object", "properties": {"shop": {"type": "string"}}, "required": ["shop"],
              "additionalProperties": False}
    r = extract(api, role="debugger", debug={"schema_override": schema, "prompt_override": "Return shop.",
                                              "max_tokens": 64})
    body = r.json()
    assert r.status_code == 200 and body["error"] is None and set(body["parsed"]) == {"shop"}
    assert body["meta"]["max_tokens_effective"] == 64
    bad = extract(api, role="debugger", debug={"schema_override": {"type": "no-such-type"}})
    assert bad.status_code == 400


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    node = schema
    for _ in range(depth):
        node["properties"] = {"a": {"type": "object"}}
        node = node["properties"]["a"]
    return schema


@pytest.mark.parametrize(("override", "says"), [
    # Deeper than the override's bound, inside the 64 levels any JSON body may have (deeper
    # bodies are refused as such: tests/api/test_hostile_input.py).
    (_nested(20), "nested deeper than 32"),
    ({"type": "object", "$defs": {"x": {"$ref": "#/$defs/y"}, "y": {"$ref": "#/$defs/x"}},
      "properties": {"a": {"$ref": "#/$defs/x"}}}, "refers back to itself"),
    ({"type": "object", "properties": {"a": {"type": "string", "minLength": 500_000_000}},
      "required": ["a"]}, "minLength 500000000 is over"),
    ({"type": "object", "properties": {f"p{i}": {"type": "string", "description": "x" * 200} for i in range(400)}},
     "larger than 65536 bytes"),
])
def test_a_hostile_schema_override_is_a_400_before_anything_walks_it(make_api: Any, override: dict[str, Any],
                                                                     says: str) -> None:
    api = make_api(debug_mode=True)
    error = assert_envelope(extract(api, role="debugger", request_id="hostile-schema",
                                    debug={"schema_override": override}), 400, "bad_request")
    assert says in error["message"]
    assert not list(api.artifacts_dir.rglob("hostile-schema*"))


def test_a_schema_requiring_itself_gets_a_bounded_answer(make_api: Any) -> None:
    """No finite instance exists: the mock stops like a real model would, and the call is a 200
    with the output's schema errors, not a crash."""
    api = make_api(debug_mode=True)
    override = {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}
    r = extract(api, role="debugger", debug={"schema_override": override, "max_tokens": 64})
    body = r.json()
    assert r.status_code == 200 and body["parsed"] is None
    assert body["error"]["code"] in ("schema_validation_failed", "invalid_model_output")


def test_the_mock_stops_at_max_tokens(make_api: Any) -> None:
    api = make_api(debug_mode=True)
    override = {"type": "object", "properties": {"a": {"type": "string", "minLength": 60_000}}, "required": ["a"]}
    r = extract(api, role="debugger", debug={"schema_override": override, "max_tokens": 100})
    body = r.json()
    assert r.status_code == 200 and body["error"]["code"] == "invalid_model_output"
    stored = api.artifact(body["artifact_rel"])
    assert len(stored["raw"]) <= 100 * 4
