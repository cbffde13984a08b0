"""Health, readiness, tasks, run items and the debug artifact surface (SPEC §8, §10)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_b64


def make_extract(api: Api, role: str, request_id: str) -> dict[str, Any]:
    r = api.client.post("/v1/extract", headers=api.auth(role), json={
        "task_id": "receipt_fields_v1", "image_base64": image_b64(), "mime_type": "image/png",
        "request_id": request_id})
    assert r.status_code == 200, r.text
    return r.json()


def test_health(api: Api) -> None:
    for path in ("/health", "/v1/health"):
        body = api.client.get(path).json()
        assert body == {"ok": True, "version": body["version"], "auth_enabled": True, "debug_mode": False,
                        "inference_backend": "mock", "model": "mock", "jobs_backend": "local", "storage": "local"}


def test_ready_reports_each_component(api: Api) -> None:
    r = api.client.get("/v1/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and set(body["components"]) == {"database", "storage"}


def test_ready_is_503_when_the_database_is_down(api: Api) -> None:
    api.index.available = False
    r = api.client.get("/v1/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["ok"] is False and body["components"]["database"]["ok"] is False
    assert body["components"]["storage"]["ok"] is True


def test_ready_is_503_when_local_storage_is_below_its_free_space_floor(make_api: Any) -> None:
    full = make_api(storage_min_free_mb=1 << 40)  # more than any disk has free
    r = full.client.get("/v1/ready")
    assert r.status_code == 503
    storage = r.json()["components"]["storage"]
    assert storage["ok"] is False and storage["error"] == "storage_unavailable"
    assert "full" in storage["message"]
    r = full.client.post("/v1/extract", headers=full.auth("client"), json={
        "task_id": "receipt_fields_v1", "image_base64": image_b64(), "mime_type": "image/png",
        "request_id": "disk-full-1"})
    error = assert_envelope(r, 503, "storage_unavailable")
    assert error["details"]["retryable"] is True and error["details"]["reason"] == "disk_full"
    assert make_api(storage_min_free_mb=0).client.get("/v1/ready").status_code == 200


def test_tasks(api: Api) -> None:
    items = api.client.get("/v1/tasks", headers=api.auth("client")).json()["items"]
    assert [t["task_id"] for t in items] == ["invoice_v1", "items_light_v1", "receipt_fields_v1", "receipt_v1"]
    assert all(t["description"] for t in items)


def test_run_item_is_owner_scoped(api: Api) -> None:
    make_extract(api, "client", "mine-1")
    assert api.client.get("/v1/runs/item/mine-1", headers=api.auth("client")).json()["request_id"] == "mine-1"
    assert_envelope(api.client.get("/v1/runs/item/mine-1", headers=api.auth("other")), 404, "not_found")
    assert api.client.get("/v1/runs/item/mine-1", headers=api.auth("admin")).status_code == 200


def test_run_item_nulls_raw_unless_read_raw(api: Api) -> None:
    make_extract(api, "client", "raw-1")
    assert api.client.get("/v1/runs/item/raw-1", headers=api.auth("client")).json()["raw"] is None
    assert api.client.get("/v1/runs/item/raw-1", headers=api.auth("admin")).json()["raw"]


def test_run_item_bad_id_is_400_and_unknown_is_404(api: Api) -> None:
    assert_envelope(api.client.get("/v1/runs/item/bad..id", headers=api.auth()), 400, "bad_request")
    assert_envelope(api.client.get("/v1/runs/item/nope", headers=api.auth()), 404, "not_found")


def test_debug_surface_does_not_exist_when_debug_is_off(api: Api) -> None:
    make_extract(api, "admin", "dbg-off")
    for path in ("/v1/debug/artifacts", "/v1/debug/artifacts/dbg-off", "/v1/debug/artifacts/dbg-off/raw",
                 "/v1/debug/artifacts?limit=0", "/v1/debug/runs/x/export", "/v1/debug/artifacts/..%2Fx"):
        assert_envelope(api.client.get(path, headers=api.auth("admin")), 404, "not_found")
    # Not even its input is looked at, and no key is asked for: the route is not there.
    off = api.client.post("/v1/debug/eval/batch_vs_gt", content=b"{not json")
    assert_envelope(off, 404, "not_found")
    # The 404 says why: the routes exist with DEBUG_MODE=1 (other unknown paths stay "no such route").
    assert off.json()["error"]["message"] == "debug routes are off: set DEBUG_MODE=1 to enable /v1/debug/*"
    assert api.client.get("/v1/nope").json()["error"]["message"] == "no such route"
    paths = api.client.get("/schema/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/v1/debug")]


def test_an_unknown_debug_path_with_debug_on_is_a_plain_404(make_api: Any) -> None:
    r = make_api(debug_mode=True).client.get("/v1/debug/nope")
    assert_envelope(r, 404, "not_found")
    assert r.json()["error"]["message"] == "no such route"


def test_the_debug_surface_is_documented_when_debug_is_on(make_api: Any) -> None:
    paths = make_api(debug_mode=True).client.get("/schema/openapi.json").json()["paths"]
    assert {"/v1/debug/artifacts", "/v1/debug/eval/batch_vs_gt", "/v1/debug/runs/{run_id}/export"} <= set(paths)


def test_debug_surface_with_debug_on(make_api: Any) -> None:
    api = make_api(debug_mode=True)
    body = make_extract(api, "client", "dbg-1")
    day = body["created_at"][:10]
    listing = api.client.get(f"/v1/debug/artifacts?date={day}", headers=api.auth("admin")).json()
    assert listing["date"] == day
    assert [i["request_id"] for i in listing["items"]] == ["dbg-1"]
    assert listing["items"][0]["artifact_rel"] == body["artifact_rel"] and listing["items"][0]["size"] > 0
    full = api.client.get("/v1/debug/artifacts/dbg-1", headers=api.auth("admin")).json()
    assert full["raw"] and full["request_id"] == "dbg-1"
    raw = api.client.get("/v1/debug/artifacts/dbg-1/raw", headers=api.auth("admin")).json()
    assert raw == {"request_id": "dbg-1", "raw": full["raw"]}
    assert_envelope(api.client.get("/v1/debug/artifacts?date=2026-13-45", headers=api.auth("admin")), 400, "bad_request")
    assert_envelope(api.client.get("/v1/debug/artifacts/dbg-1", headers=api.auth("debugger")), 403, "forbidden")
