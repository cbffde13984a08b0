"""The OpenAPI document is the contract (issue 12): what it says about parameters, bodies,
security and methods is what the app answers."""

from __future__ import annotations

from typing import Any

import pytest

from domain.ids import ID_PATTERN
from tests.api.batches_helpers import upload
from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_bytes

KEY = [{"bearer": []}, {"api_key": []}]
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def dbg(make_api: Any) -> Api:
    return make_api(debug_mode=True)


@pytest.fixture
def doc(dbg: Api) -> dict[str, Any]:
    return dbg.client.get("/schema/openapi.json").json()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in METHODS]


@pytest.mark.parametrize("url, field", [
    ("/v1/jobs?limit=0", "limit"), ("/v1/jobs?limit=abc", "limit"), ("/v1/runs?limit=501", "limit"),
    ("/v1/ground_truths?limit=0", "limit"), ("/v1/jobs/j1?wait=-1", "wait"), ("/v1/jobs/j1?wait=31", "wait"),
    ("/v1/jobs/j1?wait=nan", "wait"), ("/v1/debug/artifacts?limit=1001", "limit"), ("/v1/debug/artifacts?date=", "date"),
    ("/v1/debug/artifacts?date=2024-1-5", "date"),
])
def test_a_malformed_query_parameter_is_a_400_envelope(dbg: Api, url: str, field: str) -> None:
    """SPEC §4: 400 for a bad request, 422 only for a body; the routes document exactly that."""
    error = assert_envelope(dbg.client.get(url, headers=dbg.auth("admin")), 400, "bad_request")
    assert error["details"]["field"] == field
    (item,) = error["details"]["errors"]
    assert item["path"] == f"query.{field}" and item["message"]
    assert "nan" not in item["message"] and "abc" not in item["message"]  # input never echoed


def test_a_date_the_calendar_lacks_is_a_400(dbg: Api) -> None:
    assert_envelope(dbg.client.get("/v1/debug/artifacts?date=2024-02-30", headers=dbg.auth()), 400, "bad_request")
    assert dbg.client.get("/v1/debug/artifacts?date=2024-02-29", headers=dbg.auth()).status_code == 200


def test_a_malformed_body_is_still_a_422(api: Api) -> None:
    r = api.client.post("/v1/extract", headers=api.auth(), json={"task_id": "", "image_base64": "x"})
    assert assert_envelope(r, 422, "validation_error")["details"]["errors"][0]["path"] == "$.task_id"


@pytest.mark.parametrize("path", ["/v1/jobs/-x", "/v1/runs/a%20b", "/v1/runs/item/_x", "/v1/jobs/j..1/result",
                                  "/v1/ground_truths/a..b", "/v1/debug/artifacts/-x/raw"])
def test_a_path_id_off_the_pattern_is_a_400(dbg: Api, path: str) -> None:
    assert_envelope(dbg.client.get(path, headers=dbg.auth()), 400, "bad_request")


def test_every_path_id_carries_the_id_pattern(doc: dict[str, Any]) -> None:
    seen = set()
    for _, _, op in operations(doc):
        for param in op.get("parameters", []):
            if param["in"] == "path":
                seen.add(param["name"])
                assert param["schema"]["pattern"] == ID_PATTERN.pattern, param
                assert param["schema"]["not"] == {"pattern": r"\.\."}, param
    assert seen == {"request_id", "run_id", "job_id", "gt_id"}


def test_wait_is_bounded_on_both_sides(doc: dict[str, Any]) -> None:
    (wait,) = [p for p in doc["paths"]["/v1/jobs/{job_id}"]["get"]["parameters"] if p["name"] == "wait"]
    assert wait["schema"]["minimum"] == 0 and wait["schema"]["maximum"] == 30


def test_constraints_litestar_used_to_drop_are_documented(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["DebugIn"]["properties"]["temperature"]["minimum"] == 0
    assert schemas["BatchRerunIn"]["properties"]["error_codes"]["items"] == {
        "type": "string", "minLength": 1, "maxLength": 64}


@pytest.mark.parametrize("method", ["post", "put"])
def test_ground_truth_bodies_are_documented(doc: dict[str, Any], method: str) -> None:
    path = "/v1/ground_truths" if method == "post" else "/v1/ground_truths/{gt_id}"
    content = doc["paths"][path][method]["requestBody"]["content"]
    records = content["application/json"]["schema"]["oneOf"][0]
    assert records["type"] == "array" and records["items"]["required"] == ["file"]
    form = content["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
    assert ("gt_id" in form["properties"]) is (method == "post")


def test_a_ground_truth_goes_in_as_json_or_as_a_multipart_file(dbg: Api) -> None:
    auth = dbg.auth("debugger")
    r = dbg.client.post("/v1/ground_truths", headers=auth, files={"file": ("gt.json", b'[{"file": "a.png"}]')},
                        data={"gt_id": "gt-form", "name": ""})
    assert r.status_code == 201 and r.json()["gt_id"] == "gt-form", r.text
    r = dbg.client.put("/v1/ground_truths/gt-form", headers=auth, json={"items": [{"file": "b.png"}]})
    assert r.status_code == 200 and r.json()["version"] == 2
    # An empty form field is an absent one; a bad query id is a 400 before the body is read.
    r = dbg.client.post("/v1/ground_truths", headers=auth, files={"file": ("gt.json", b'[{"file": "a.png"}]')},
                        data={"gt_id": ""})
    assert r.status_code == 201 and r.json()["gt_id"] != "", r.text
    assert_envelope(dbg.client.post("/v1/ground_truths?gt_id=-x", headers=auth, json=[{"file": "a.png"}]),
                    400, "bad_request")


def test_security_schemes_are_declared_and_on_every_keyed_operation(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <api_key>"}
    assert schemes["api_key"] == {"type": "apiKey", "name": "X-API-Key", "in": "header"}
    for path, method, op in operations(doc):
        keyed = "401" in op["responses"]
        assert op.get("security") == (KEY if keyed else None), (method, path)
    open_ops = {(p, m) for p, m, op in operations(doc) if "security" not in op}
    assert open_ops == {("/health", "get"), ("/v1/health", "get"), ("/v1/ready", "get"), ("/metrics", "get")}


@pytest.mark.parametrize("key_header", ["Authorization", "X-API-Key"])
def test_either_documented_scheme_authenticates(api: Api, key_header: str) -> None:
    value = f"Bearer {api.keys['client']}" if key_header == "Authorization" else api.keys["client"]
    assert api.client.get("/v1/me", headers={key_header: value}).json()["role"] == "client"


def test_options_lists_every_method_of_each_path(dbg: Api, doc: dict[str, Any]) -> None:
    allow = dbg.client.options("/v1/ground_truths/gt-x")
    assert allow.status_code == 204 and allow.headers["allow"] == "DELETE, GET, OPTIONS, PUT"
    for path, item in doc["paths"].items():
        concrete = path.replace("{", "").replace("}", "")  # a valid id in every id slot
        r = dbg.client.options(concrete)
        documented = {m.upper() for m in item if m in METHODS} | {"OPTIONS"}
        assert set(r.headers["allow"].split(", ")) == documented, path


@pytest.mark.parametrize("path, role", [("/v1/jobs", "client"), ("/v1/runs", "client"),
                                        ("/v1/ground_truths", "debugger")])
def test_an_empty_cursor_is_the_first_page(dbg: Api, path: str, role: str) -> None:
    first = dbg.client.get(path, headers=dbg.auth(role))
    r = dbg.client.get(f"{path}?cursor=", headers=dbg.auth(role))
    assert r.status_code == 200 and r.json() == first.json()
    assert_envelope(dbg.client.get(f"{path}?cursor=not-a-cursor", headers=dbg.auth(role)), 400, "bad_request")


@pytest.mark.parametrize("body, path", [
    ({"text_par": "Завод упаковки", "return_answer_raw": 0}, "$.return_answer_raw"),
    ({"text_par": "Завод упаковки", "pars_id": "4"}, "$.pars_id"),
])
def test_a_json_body_keeps_its_documented_types(api: Api, body: dict[str, Any], path: str) -> None:
    """Litestar converts bodies leniently (0 → false, "4" → 4); the document does not."""
    r = api.client.post("/v1/analyze/json", headers=api.auth(), json=body)
    assert assert_envelope(r, 422, "validation_error")["details"]["errors"] == [
        {"path": path, "message": r.json()["error"]["details"]["errors"][0]["message"]}]


def test_an_integral_number_is_an_integer_as_json_schema_says(api: Api) -> None:
    r = api.client.post("/v1/analyze/json", headers=api.auth(), json={"text_par": "Завод упаковки", "pars_id": 4.0})
    assert r.status_code == 200, r.text


def test_upload_form_fields_follow_the_document(api: Api) -> None:
    png = [("a.png", image_bytes(size=(20, 20)))]
    body = upload(api, png, run_id="", gt_id="", persist_inputs="TRUE").json()
    assert body["run_id"] and body["items"][0]["input_ref"]
    for fields, where in (({"run_id": " r1"}, "$.run_id"), ({"persist_inputs": " true"}, "$.persist_inputs"),
                          ({"persist_inputs": "maybe"}, "$.persist_inputs")):
        error = assert_envelope(upload(api, png, **fields), 422, "validation_error")
        assert [e["path"] for e in error["details"]["errors"]] == [where]


@pytest.mark.parametrize("path", ["/v1/extract_async", "/v1/batch_extract_async", "/v1/batch_extract_upload_async",
                                  "/v1/batch_extract_rerun_async"])
def test_async_endpoints_document_their_headers(api: Api, path: str) -> None:
    operation = api.client.get("/schema/openapi.json").json()["paths"][path]["post"]
    assert {"Location", "Retry-After"} <= set(operation["responses"]["202"]["headers"])
    [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["schema"]["maxLength"] == 255 and not key.get("required")
