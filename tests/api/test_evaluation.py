"""Ground truths, evaluation and the run export over HTTP (issue 5): scopes, the debug gate,
owner isolation, and numbers that follow from a known ground truth."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest

from tests.api.batches_helpers import upload
from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_bytes


@pytest.fixture
def dbg(make_api: Any) -> Api:
    return make_api(debug_mode=True)


def run_of(api: Api, role: str = "debugger", run_id: str = "eval-run", names: tuple[str, ...] = (
        "a.png", "b.png", "mock_fail_upstream_c.png")) -> dict[str, Any]:
    files = [(n, image_bytes(size=(30 + i, 30))) for i, n in enumerate(names)]
    body = upload(api, files, role=role, run_id=run_id).json()
    assert body["run_id"] == run_id
    return body


def gt_from(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A ground truth equal to the run's own predictions (failed items: the first record's values)."""
    ok = [i for i in run["items"] if i["ok"]]
    return [{"file": f"some/dir/{i['file']}", **(i["parsed"] or ok[0]["parsed"])} for i in run["items"]]


def test_ground_truth_crud_and_versions(dbg: Api) -> None:
    records = [{"file": "a.png", "total": "10.00"}, {"file": "b.png", "total": "5,50"}]
    r = dbg.client.post("/v1/ground_truths?gt_id=gt-1&name=first", headers=dbg.auth("debugger"), json=records)
    assert r.status_code == 201, r.text
    assert r.json() == {"gt_id": "gt-1", "name": "first", "created_at": r.json()["created_at"],
                        "updated_at": r.json()["updated_at"], "version": 1, "record_count": 2}
    got = dbg.client.get("/v1/ground_truths/gt-1", headers=dbg.auth("debugger")).json()
    assert got["items"] == records
    put = dbg.client.put("/v1/ground_truths/gt-1", headers=dbg.auth("debugger"), json={"items": records[:1]})
    assert put.json()["version"] == 2 and put.json()["record_count"] == 1
    assert dbg.client.get("/v1/ground_truths/gt-1", headers=dbg.auth("debugger")).json()["items"] == records[:1]
    listed = dbg.client.get("/v1/ground_truths", headers=dbg.auth("debugger")).json()
    assert [g["gt_id"] for g in listed["items"]] == ["gt-1"]
    assert_envelope(dbg.client.post("/v1/ground_truths?gt_id=gt-1", headers=dbg.auth("debugger"), json=records),
                    409, "artifact_exists")
    assert dbg.client.delete("/v1/ground_truths/gt-1", headers=dbg.auth("debugger")).status_code == 204
    assert_envelope(dbg.client.get("/v1/ground_truths/gt-1", headers=dbg.auth("debugger")), 404, "not_found")
    assert not list((dbg.artifacts_dir / "ground_truths").rglob("*.json"))


def test_ground_truth_multipart_upload(dbg: Api) -> None:
    doc = json.dumps({"items": [{"file": "x.png", "total": "1"}]}).encode()
    r = dbg.client.post("/v1/ground_truths", headers=dbg.auth("debugger"), data={"gt_id": "gt-mp", "name": "mp"},
                        files=[("file", ("gt.json", doc, "application/json"))])
    assert r.status_code == 201 and r.json()["gt_id"] == "gt-mp" and r.json()["record_count"] == 1


@pytest.mark.parametrize(("body", "path"), [
    ([], "$"), ({"items": []}, "$.items"), ([{"total": "1"}], "$[0].file"), (["x"], "$[0]"),
    ([{"file": "a/x.png"}, {"file": "b/x.png"}], "$[1].file"),
])
def test_bad_ground_truths_are_422_with_a_path(dbg: Api, body: Any, path: str) -> None:
    error = assert_envelope(dbg.client.post("/v1/ground_truths", headers=dbg.auth("debugger"), json=body),
                            422, "validation_error")
    assert error["details"]["errors"][0]["path"] == path


def test_ground_truths_need_debug_run_and_are_owner_scoped(dbg: Api) -> None:
    assert_envelope(dbg.client.get("/v1/ground_truths", headers=dbg.auth("client")), 403, "forbidden")
    dbg.client.post("/v1/ground_truths?gt_id=mine", headers=dbg.auth("debugger"), json=[{"file": "a.png"}])
    assert dbg.client.get("/v1/ground_truths/mine", headers=dbg.auth("admin")).status_code == 200  # admin: all
    dbg.client.post("/v1/ground_truths?gt_id=admins", headers=dbg.auth("admin"), json=[{"file": "a.png"}])
    mine = dbg.client.get("/v1/ground_truths", headers=dbg.auth("debugger")).json()["items"]
    assert [g["gt_id"] for g in mine] == ["mine"]
    for method in ("get", "delete"):
        r = getattr(dbg.client, method)("/v1/ground_truths/admins", headers=dbg.auth("debugger"))
        assert_envelope(r, 404, "not_found")


def test_evaluation_of_a_run_against_its_own_predictions(dbg: Api) -> None:
    run = run_of(dbg)
    r = dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("debugger"),
                        json={"run_id": "eval-run", "gt": gt_from(run), "str_mode": "strip"})
    assert r.status_code == 200, r.text
    body = r.json()
    report = body["report"]
    assert body["run_id"] == "eval-run" and body["artifact_rel"].startswith("evals/")
    # Two ok items predicted exactly their ground truth; the failed item counts as misses.
    assert report["strict"]["exact_match"]["matched_documents"] == 2
    assert report["strict"]["exact_match"]["documents"] == 3
    assert report["counts"]["failed_items"] == 1
    rows = {row["path"]: row for row in report["normalised"]["fields"]}
    assert all(row["matched"] == 2 and row["pred_missing"] >= 0 and row["total"] >= 2 for row in rows.values())
    stored = json.loads((dbg.artifacts_dir / body["artifact_rel"]).read_text())
    assert stored["auth"]["key_id"] == "debugger-key" and stored["eval_id"] == body["eval_id"]
    runs = dbg.client.get("/v1/runs", headers=dbg.auth("debugger")).json()["items"]
    assert runs[0]["eval_summary"]["eval_id"] == body["eval_id"]
    assert runs[0]["eval_summary"]["documents"] == 3


def test_evaluation_with_an_uploaded_ground_truth_and_at_batch_time(dbg: Api) -> None:
    run = run_of(dbg)
    dbg.client.post("/v1/ground_truths?gt_id=gt-run", headers=dbg.auth("debugger"), json=gt_from(run))
    r = dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("debugger"),
                        json={"run_id": "eval-run", "gt_id": "gt-run"})
    assert r.status_code == 200 and r.json()["gt_id"] == "gt-run"
    second = upload(dbg, [("a.png", image_bytes(size=(30, 30)))], role="debugger", run_id="with-gt",
                    gt_id="gt-run").json()
    assert second["eval_summary"]["eval_id"] and second["eval_summary"]["documents"] >= 1
    r = upload(dbg, [("a.png", image_bytes())], role="debugger", gt_id="no-such-gt")
    assert_envelope(r, 404, "not_found")


def test_draft_ground_truth_from_a_run(dbg: Api) -> None:
    run = run_of(dbg)
    r = dbg.client.post("/v1/ground_truths/from_run", headers=dbg.auth("debugger"),
                        json={"run_id": "eval-run", "gt_id": "draft-1"})
    assert r.status_code == 201 and r.json()["record_count"] == 3
    items = dbg.client.get("/v1/ground_truths/draft-1", headers=dbg.auth("debugger")).json()["items"]
    assert [i["file"] for i in items] == [i["file"] for i in run["items"]]
    assert items[0] == {"file": "a.png", **run["items"][0]["parsed"]}
    assert items[2] == {"file": "mock_fail_upstream_c.png"}  # a failed item leaves its fields to a person


def test_eval_is_404_when_debug_is_off_and_needs_debug_run(make_api: Any) -> None:
    api = make_api(debug_mode=False)
    assert_envelope(api.client.post("/v1/debug/eval/batch_vs_gt", headers=api.auth("admin"),
                                    json={"run_id": "x", "gt": [{"file": "a"}]}), 404, "not_found")
    dbg = make_api(debug_mode=True)
    assert_envelope(dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("client"),
                                    json={"run_id": "x", "gt": [{"file": "a"}]}), 403, "forbidden")


def test_eval_of_another_owners_run_or_ground_truth_is_404(dbg: Api) -> None:
    run_of(dbg, role="admin", run_id="admins-run")
    dbg.client.post("/v1/ground_truths?gt_id=admins-gt", headers=dbg.auth("admin"), json=[{"file": "a.png"}])
    assert_envelope(dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("debugger"),
                                    json={"run_id": "admins-run", "gt": [{"file": "a.png"}]}), 404, "not_found")
    run_of(dbg, run_id="dbg-run")
    assert_envelope(dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("debugger"),
                                    json={"run_id": "dbg-run", "gt_id": "admins-gt"}), 404, "not_found")
    assert_envelope(dbg.client.get("/v1/ground_truths/admins-gt", headers=dbg.auth("debugger")), 404, "not_found")


def test_eval_bad_requests(dbg: Api) -> None:
    run_of(dbg)
    for body in ({"run_id": "eval-run"}, {"run_id": "eval-run", "gt": [{"file": "a"}], "gt_id": "x"},
                 {"run_id": "eval-run", "gt": [{"file": "a"}], "str_mode": "fuzzy"}):
        assert_envelope(dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("debugger"), json=body),
                        422, "validation_error")
    assert_envelope(dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("debugger"), json={
        "run_id": "eval-run", "gt": [{"file": "a"}], "batch_date": "2001-01-01"}), 404, "not_found")


def test_run_export_tar_gz(dbg: Api) -> None:
    run = run_of(dbg, role="admin", run_id="exp-run")
    dbg.client.post("/v1/debug/eval/batch_vs_gt", headers=dbg.auth("admin"),
                    json={"run_id": "exp-run", "gt": gt_from(run)})
    r = dbg.client.get("/v1/debug/runs/exp-run/export", headers=dbg.auth("admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/gzip")
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        names = tar.getnames()
        items = [json.loads(tar.extractfile(n).read()) for n in names if "/items/" in n]
    assert "exp-run/batch.json" in names and any("/evals/" in n for n in names)
    assert len(items) == 3 and all(i["raw"] is not None or i["error"] for i in items)
    assert_envelope(dbg.client.get("/v1/debug/runs/exp-run/export", headers=dbg.auth("debugger")), 403, "forbidden")
