"""SPEC §4: request ids, the error envelope on every error, OpenAPI."""

from __future__ import annotations

from typing import Any

from dependency_injector import providers

from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_b64


def test_unknown_route_is_a_404_envelope(api: Api) -> None:
    assert_envelope(api.client.get("/v1/nope"), 404, "not_found")


def test_wrong_method_is_a_405_envelope(api: Api) -> None:
    assert_envelope(api.client.delete("/v1/tasks", headers=api.auth()), 405, "method_not_allowed")


def test_request_id_is_echoed_when_valid_and_generated_otherwise(api: Api) -> None:
    r = api.client.get("/v1/health", headers={"X-Request-ID": "abc-123.x_y"})
    assert r.headers["x-request-id"] == "abc-123.x_y"
    r = api.client.get("/v1/health", headers={"X-Request-ID": "../../etc/passwd"})
    assert r.headers["x-request-id"] != "../../etc/passwd" and len(r.headers["x-request-id"]) == 32
    r = api.client.get("/v1/nope", headers={"X-Request-ID": "rid-404"})
    assert r.json()["error"]["request_id"] == "rid-404"


def test_body_validation_is_422_with_paths_and_never_echoes_values(api: Api) -> None:
    secret_value = "SECRET-INPUT-VALUE-123"
    r = api.client.post("/v1/extract", headers=api.auth(),
                        json={"task_id": 5, "mime_type": secret_value, "image_base64": ["x"]})
    error = assert_envelope(r, 422, "validation_error")
    assert error["details"]["errors"] and all({"path", "message"} == set(e) for e in error["details"]["errors"])
    assert secret_value not in r.text


def test_an_image_never_comes_back_in_an_error(api: Api) -> None:
    b64 = image_b64(size=(300, 300))
    r = api.client.post("/v1/extract", headers=api.auth(),
                        json={"task_id": "receipt_fields_v1", "image_base64": b64, "request_id": "bad id!"})
    assert_envelope(r, 422, "validation_error")
    assert b64[:64] not in r.text


def test_malformed_json_is_a_400(api: Api) -> None:
    r = api.client.post("/v1/extract", headers={**api.auth(), "Content-Type": "application/json"}, content=b"{oops")
    assert_envelope(r, 400, "bad_request")


def test_body_over_max_request_bytes_is_413(make_api: Any) -> None:
    api = make_api(max_request_bytes=1000)
    r = api.client.post("/v1/extract", headers=api.auth(), json={"task_id": "x", "image_base64": "A" * 5000})
    assert_envelope(r, 413, "payload_too_large")


def test_a_crash_is_a_500_envelope_without_internals(make_api: Any) -> None:
    class Exploding:
        async def run(self, *_: Any, **__: Any) -> Any:
            raise RuntimeError("database password is hunter2 at /srv/secret/path.py")

    api = make_api(configure=lambda c: c.extractor.override(providers.Object(Exploding())))
    r = api.client.post("/v1/extract", headers=api.auth(),
                        json={"task_id": "receipt_fields_v1", "image_base64": image_b64()})
    error = assert_envelope(r, 500, "internal_error")
    assert "hunter2" not in r.text and "secret" not in r.text and error["message"] == "internal error"


def test_openapi_describes_every_endpoint(make_api: Any) -> None:
    api = make_api(debug_mode=True)  # the debug surface exists (and is documented) only then
    r = api.client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    for path in ("/v1/health", "/health", "/v1/ready", "/v1/me", "/v1/tasks", "/v1/extract",
                 "/v1/runs/item/{request_id}", "/v1/debug/artifacts", "/v1/debug/artifacts/{request_id}",
                 "/v1/debug/artifacts/{request_id}/raw", "/v1/extract_async", "/v1/batch_extract",
                 "/v1/batch_extract_async", "/v1/batch_extract_upload", "/v1/batch_extract_upload_async",
                 "/v1/batch_extract_rerun", "/v1/batch_extract_rerun_async", "/v1/jobs", "/v1/jobs/{job_id}",
                 "/v1/jobs/{job_id}/result", "/v1/jobs/{job_id}/cancel", "/v1/runs", "/v1/runs/{run_id}",
                 "/v1/analyze/json", "/v1/billing/remaining", "/v1/ground_truths", "/v1/ground_truths/{gt_id}",
                 "/v1/ground_truths/from_run", "/v1/debug/eval/batch_vs_gt", "/v1/debug/runs/{run_id}/export",
                 "/metrics"):
        assert path in doc["paths"], path
    extract = doc["paths"]["/v1/extract"]["post"]
    assert "requestBody" in extract and {"200", "401", "422"} <= set(extract["responses"])
    schemas = doc["components"]["schemas"]
    assert {"ExtractIn", "ExtractOut", "ErrorOut", "BatchExtractIn", "BatchExtractOut", "JobOut", "AnalyzeIn",
            "AnalyzeOut", "BillingSummaryOut", "EvalIn", "EvalOut", "GroundTruthOut"} <= set(schemas)
    upload = doc["paths"]["/v1/batch_extract_upload_async"]["post"]["requestBody"]["content"]
    assert "files" in upload["multipart/form-data"]["schema"]["properties"]
    assert {"202", "413", "422"} <= set(doc["paths"]["/v1/batch_extract_upload_async"]["post"]["responses"])
    assert api.client.get("/schema").status_code == 200
