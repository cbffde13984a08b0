"""Batches (SPEC §6.3): directory, upload and rerun; sync and async; ordering, failures, limits."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.api.batches_helpers import upload, wait_done
from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_bytes


@pytest.fixture
def data_dir(api: Api) -> Path:
    root = Path(api.settings.data_root)
    (root / "set1" / "sub").mkdir(parents=True)
    for i, name in enumerate(["b.png", "a.png", "sub/c.png", "notes.txt", "mock_fail_json_d.png"]):
        (root / "set1" / name).write_bytes(b"text" if name.endswith(".txt") else image_bytes(size=(40 + i, 30)))
    return root


def test_directory_batch_runs_images_in_path_order_and_survives_item_failures(api: Api, data_dir: Path) -> None:
    r = api.client.post("/v1/batch_extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "images_dir": "set1", "run_id": "dir-run-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["file"] for i in body["items"]] == ["a.png", "b.png", "mock_fail_json_d.png", "sub/c.png"]
    assert (body["item_count"], body["ok_count"], body["error_count"]) == (4, 3, 1)
    failed = body["items"][2]
    assert failed["ok"] is False and failed["error"]["code"] == "invalid_model_output" and failed["artifact_rel"]
    for index, item in enumerate(body["items"]):
        expected = hashlib.sha256(f"receipt_fields_v1|dir-run-1|{index}|{item['file']}".encode()).hexdigest()[:32]
        assert item["request_id"] == expected and item["input_ref"].startswith("inputs/admin-key/")
        assert (api.artifacts_dir / item["artifact_rel"]).is_file()
    assert api.artifact(body["artifact_rel"])["run_id"] == "dir-run-1"


def test_directory_batch_limit_glob_and_run_listing(api: Api, data_dir: Path) -> None:
    r = api.client.post("/v1/batch_extract", headers=api.auth("client"), json={
        "task_id": "receipt_fields_v1", "images_dir": "set1", "glob": "*.png", "limit": 2})
    body = r.json()
    assert [i["file"] for i in body["items"]] == ["a.png", "b.png"]
    runs = api.client.get("/v1/runs", headers=api.auth("client")).json()
    assert runs["items"][0]["run_id"] == body["run_id"] and runs["items"][0]["item_count"] == 2
    assert runs["items"][0]["eval_summary"] is None
    assert api.client.get("/v1/runs", headers=api.auth("other")).json()["items"] == []
    assert api.client.get(f"/v1/runs/{body['run_id']}", headers=api.auth("client")).json()["run_id"] == body["run_id"]
    assert_envelope(api.client.get(f"/v1/runs/{body['run_id']}", headers=api.auth("other")), 404, "not_found")


@pytest.mark.parametrize("images_dir", ["../", "/etc", "set1/../../", "missing"])
def test_directory_outside_data_root_is_refused(api: Api, data_dir: Path, images_dir: str) -> None:
    r = api.client.post("/v1/batch_extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "images_dir": images_dir})
    assert_envelope(r, 400, "bad_request")
    # The refusal names the configured root, so a caller knows what images_dir is relative to.
    root = str(Path(api.settings.data_root).resolve())
    assert root in r.json()["error"]["message"]
    assert r.json()["error"]["details"] == {"field": "images_dir", "data_root": root}


def test_symlink_escape_is_refused(api: Api, data_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(image_bytes())
    os.symlink(outside, data_dir / "link")
    r = api.client.post("/v1/batch_extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "images_dir": "link"})
    assert_envelope(r, 400, "bad_request")
    os.symlink(outside / "secret.png", data_dir / "set1" / "evil.png")
    body = api.client.post("/v1/batch_extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "images_dir": "set1"}).json()
    assert "evil.png" not in [i["file"] for i in body["items"]]


def test_duplicate_run_id_is_409(api: Api, data_dir: Path) -> None:
    body = {"task_id": "receipt_fields_v1", "images_dir": "set1", "run_id": "dup-run"}
    assert api.client.post("/v1/batch_extract", headers=api.auth(), json=body).status_code == 200
    assert_envelope(api.client.post("/v1/batch_extract", headers=api.auth(), json=body), 409, "artifact_exists")


def test_bad_concurrency_and_unknown_task(api: Api, data_dir: Path) -> None:
    r = api.client.post("/v1/batch_extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "images_dir": "set1", "concurrency": 65})
    assert_envelope(r, 422, "validation_error")
    r = api.client.post("/v1/batch_extract", headers=api.auth(), json={"task_id": "nope", "images_dir": "set1"})
    assert_envelope(r, 404, "unknown_task")


def test_upload_batch_keeps_order_with_duplicate_names(api: Api) -> None:
    files = [("x.png", image_bytes(size=(30, 30))), ("x.png", image_bytes(size=(31, 30))),
             ("mock_fail_upstream.png", image_bytes(size=(32, 30))), ("bad.png", b"not an image")]
    r = upload(api, files, run_id="up-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["file"] for i in body["items"]] == ["x.png", "x.png", "mock_fail_upstream.png", "bad.png"]
    assert len({i["request_id"] for i in body["items"]}) == 4
    codes = [i["error"]["code"] if i["error"] else None for i in body["items"]]
    assert codes == [None, None, "upstream_unavailable", "unsupported_media_type"]  # not an image: not stored
    assert body["items"][2]["error"]["retryable"] is True and body["items"][2]["artifact_rel"]


def test_upload_without_persist_removes_new_inputs(api: Api) -> None:
    body = upload(api, [("a.png", image_bytes(size=(50, 50)))], persist_inputs="false").json()
    assert body["items"][0]["input_ref"] is None and body["ok_count"] == 1
    assert not list((api.artifacts_dir / "inputs").rglob("*.png"))


def test_upload_limits(make_api: Any) -> None:
    api = make_api(max_batch_files=2, max_image_bytes=5000)
    small = image_bytes(size=(10, 10))
    assert_envelope(upload(api, [("a.png", small)] * 3), 413, "payload_too_large")
    assert_envelope(upload(api, [("big.bmp", image_bytes("BMP", (100, 100)))]), 413, "payload_too_large")
    r = api.client.post("/v1/batch_extract_upload", headers=api.auth(), json={"task_id": "x"})
    assert_envelope(r, 415, "unsupported_media_type")
    r = api.client.post("/v1/batch_extract_upload", headers=api.auth(), data={"task_id": "receipt_fields_v1"},
                        files=[("other", ("a.png", small, "image/png"))])
    assert_envelope(r, 400, "bad_request")
    error = assert_envelope(upload(api, [("a.png", small)], concurrency="0"), 422, "validation_error")
    assert error["details"]["errors"][0]["path"] == "$.concurrency"
    assert list((api.artifacts_dir).rglob("*.part")) == []
    # Files are stored while the body arrives; a refused upload removes what it stored.
    assert not [p for p in (api.artifacts_dir / "inputs").rglob("*") if p.is_file()]


def test_upload_limit_field_applies_before_processing(api: Api) -> None:
    files = [(f"{i}.png", image_bytes(size=(20 + i, 20))) for i in range(4)]
    assert upload(api, files, limit=2).json()["item_count"] == 2
    kept = sorted(p.name for p in (api.artifacts_dir / "inputs").rglob("*.png"))
    assert kept == sorted(hashlib.sha256(content).hexdigest() + ".png" for _, content in files[:2])


def test_upload_of_large_and_small_files_stores_each_exactly(api: Api) -> None:
    large = image_bytes("BMP", (400, 300))  # ~360 KB: spilled to a temp file while receiving
    small = image_bytes(size=(33, 30))
    body = upload(api, [("large.bmp", large), ("small.png", small), ("again.png", small)]).json()
    assert body["ok_count"] == 3, body
    refs = [i["input_ref"] for i in body["items"]]
    assert refs[1] == refs[2]  # same content, same owner: one input
    for ref, content in [(refs[0], large), (refs[1], small)]:
        assert (api.artifacts_dir / ref).read_bytes() == content
        assert hashlib.sha256(content).hexdigest() in ref


def test_rerun_from_stored_inputs_with_another_task(api: Api) -> None:
    first = upload(api, [("a.png", image_bytes()), ("b.png", image_bytes(size=(70, 70)))], run_id="src-1").json()
    r = api.client.post("/v1/batch_extract_rerun", headers=api.auth(), json={
        "task_id": "items_light_v1", "run_id": "src-1", "new_run_id": "rerun-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task_id"] == "items_light_v1" and body["ok_count"] == 2
    assert [i["input_ref"] for i in body["items"]] == [i["input_ref"] for i in first["items"]]
    assert api.artifact(body["artifact_rel"])["source_run_id"] == "src-1"
    assert_envelope(api.client.post("/v1/batch_extract_rerun", headers=api.auth("other"), json={
        "task_id": "items_light_v1", "run_id": "src-1"}), 404, "not_found")
    assert_envelope(api.client.post("/v1/batch_extract_rerun", headers=api.auth(), json={
        "task_id": "items_light_v1", "run_id": "src-1", "batch_date": "2001-01-01"}), 404, "not_found")


def test_rerun_items_without_input_are_errors_never_server_reads(api: Api) -> None:
    upload(api, [("a.png", image_bytes())], run_id="eph-1", persist_inputs="false")
    body = api.client.post("/v1/batch_extract_rerun", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "run_id": "eph-1"}).json()
    assert body["error_count"] == 1 and body["items"][0]["error"]["code"] == "input_missing"


def test_async_upload_batch_with_progress_and_result(api: Api) -> None:
    files = [(f"{i:02d}.png", image_bytes(size=(20 + i, 20))) for i in range(6)]
    r = upload(api, files, path="/v1/batch_extract_upload_async", concurrency=3)
    assert r.status_code == 202, r.text
    accepted = r.json()
    # Started at its first file (ADR 0051): queued or already running when the body ends.
    assert accepted["status"] in ("queued", "running")
    assert accepted["poll_url"] == f"/v1/jobs/{accepted['job_id']}"
    assert r.headers["location"] == accepted["poll_url"] and int(r.headers["retry-after"]) >= 1
    job = wait_done(api, accepted["job_id"])
    assert job["status"] == "succeeded" and job["kind"] == "batch_extract_upload"
    assert job["progress"] == {"stage": "succeeded", "total": 6, "done": 6, "ok": 6, "err": 0, "current": None}
    assert job["result"]["item_count"] == 6 and job["started_at"] and job["finished_at"]
    result = api.client.get(f"/v1/jobs/{accepted['job_id']}/result", headers=api.auth()).json()
    assert [i["file"] for i in result["items"]] == [f"{i:02d}.png" for i in range(6)]
    assert job["result"]["run_id"] == result["run_id"]


def test_async_directory_and_rerun_batches(api: Api, data_dir: Path) -> None:
    r = api.client.post("/v1/batch_extract_async", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "images_dir": "set1", "run_id": "async-dir"})
    assert r.status_code == 202
    assert wait_done(api, r.json()["job_id"])["result"]["item_count"] == 4
    r = api.client.post("/v1/batch_extract_rerun_async", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "run_id": "async-dir"})
    assert r.status_code == 202
    assert wait_done(api, r.json()["job_id"])["result"]["item_count"] == 4


def test_directory_batch_refuses_files_behind_symlinked_directories_listed_later(api: Api, data_dir: Path,
                                                                                 tmp_path: Path) -> None:
    # Directories are resolved once and remembered; a linked directory pointing outside is
    # still skipped when listed, and a plain directory next to it is still read.
    outside = tmp_path / "outside2"
    outside.mkdir()
    (outside / "secret.png").write_bytes(image_bytes())
    os.symlink(outside, data_dir / "set1" / "linked")
    body = api.client.post("/v1/batch_extract", headers=api.auth(), json={
        "task_id": "receipt_fields_v1", "images_dir": "set1", "glob": "**/*.png"}).json()
    files = [i["file"] for i in body["items"]]
    assert "sub/c.png" in files and not any("secret" in f for f in files)


def test_limit_keeps_an_input_whose_duplicate_past_the_limit_stored_it(api: Api) -> None:
    same = image_bytes(size=(41, 30))
    files = [("a.png", same), ("b.png", image_bytes(size=(42, 30)))] + [(f"dup{i}.png", same) for i in range(8)]
    body = upload(api, files, limit=1, persist_inputs="true").json()
    assert body["ok_count"] == 1
    assert (api.artifacts_dir / body["items"][0]["input_ref"]).read_bytes() == same
    kept = sorted(p.name for p in (api.artifacts_dir / "inputs").rglob("*.png"))
    assert kept == [hashlib.sha256(same).hexdigest() + ".png"]  # b.png, past the limit, is gone


def test_async_upload_idempotency_after_an_early_start(api: Api) -> None:
    """The first request starts its job at the first file (ADR 0051) and records the body's
    fingerprint at the end; a retry with the same key and body gets that job, another body 422."""
    files = [(f"{i}.png", image_bytes(size=(60 + i, 20))) for i in range(3)]
    headers = {**api.auth(), "Idempotency-Key": "upload-k1"}
    data = {"task_id": "receipt_fields_v1"}
    parts = [("files", (name, content, "image/png")) for name, content in files]
    first = api.client.post("/v1/batch_extract_upload_async", headers=headers, data=data, files=parts)
    assert first.status_code == 202, first.text
    wait_done(api, first.json()["job_id"])
    again = api.client.post("/v1/batch_extract_upload_async", headers=headers, data=data, files=parts)
    assert again.status_code == 202 and again.json()["job_id"] == first.json()["job_id"]
    other = api.client.post("/v1/batch_extract_upload_async", headers=headers, data=data, files=parts[:2])
    assert_envelope(other, 422, "validation_error")
    jobs = api.client.get("/v1/jobs", headers=api.auth()).json()["items"]
    assert [j["job_id"] for j in jobs] == [first.json()["job_id"]]


def test_resubmitting_a_run_whose_batch_artifact_was_never_written_reuses_its_finished_items(api: Api) -> None:
    """Issue 11: a run cut short before its batch artifact (a crash) is not a 409 per item when it
    is submitted again under its run id: the items that finished are reused, not redone."""
    files = [("a.png", image_bytes()), ("b.png", image_bytes(size=(70, 70)))]
    first = upload(api, files, run_id="cut-short").json()
    # As if the process had died before the batch artifact: its blob and entry are gone.
    (api.artifacts_dir / first["artifact_rel"]).unlink()
    asyncio.run(api.index.delete("batch", "cut-short"))
    stamps = {i["artifact_rel"]: (api.artifacts_dir / i["artifact_rel"]).stat().st_mtime_ns for i in first["items"]}

    again = upload(api, files, run_id="cut-short")
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["ok_count"] == 2 and [i["error"] for i in body["items"]] == [None, None]
    assert [i["request_id"] for i in body["items"]] == [i["request_id"] for i in first["items"]]
    assert [i["parsed"] for i in body["items"]] == [i["parsed"] for i in first["items"]]
    assert {rel: (api.artifacts_dir / rel).stat().st_mtime_ns for rel in stamps} == stamps  # reused as stored
    # Another image under the same run id and file name is not taken for the stored one.
    other = upload(api, [("a.png", image_bytes(size=(90, 20)))], run_id="cut-short-2").json()
    (api.artifacts_dir / other["artifact_rel"]).unlink()
    asyncio.run(api.index.delete("batch", "cut-short-2"))
    changed = upload(api, [("a.png", image_bytes(size=(91, 20)))], run_id="cut-short-2").json()
    assert changed["items"][0]["error"]["code"] == "artifact_exists"


def test_another_owners_run_answers_exactly_like_a_missing_one(make_api: Any) -> None:
    """Issue 12: rerun (and eval) must not tell another owner's run from a missing one, nor its day."""
    api = make_api(debug_mode=True)
    source = upload(api, [("a.png", image_bytes())], role="admin", run_id="owned-by-admin").json()
    day = source["created_at"][:10]

    def answer(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = api.client.post(path, headers=api.auth("debugger"), json=body)
        error = dict(r.json()["error"])
        error.pop("request_id")
        return r.status_code, error

    for path, body in (("/v1/batch_extract_rerun", {"task_id": "receipt_fields_v1"}),
                       ("/v1/debug/eval/batch_vs_gt", {"gt": [{"file": "a.png"}]})):
        for date in (None, day, "2001-01-01"):
            extra = {"batch_date": date} if date else {}
            theirs = answer(path, {**body, "run_id": "owned-by-admin", **extra})
            missing = answer(path, {**body, "run_id": "owned-by-nobody", **extra})
            assert theirs[0] == missing[0] == 404
            assert theirs[1] == {**missing[1], "message": missing[1]["message"].replace("owned-by-nobody",
                                                                                         "owned-by-admin")}


@pytest.mark.parametrize("path", ["/v1/batch_extract_upload", "/v1/batch_extract_upload_async"])
def test_a_file_that_is_no_image_is_never_stored_and_fails_its_item(api: Api, path: str) -> None:
    """Issue 12: uploads used to store any file first; now a file that does not start like one of
    the accepted image formats is refused as it arrives — its item fails, nothing is stored."""
    files = [("notes.txt", b"just some text, not an image at all"), ("a.png", image_bytes()),
             ("fake.png", b"%PDF-1.7 pretending to be a png")]
    r = upload(api, files, path=path)
    assert r.status_code in (200, 202), r.text
    body = r.json() if r.status_code == 200 else api.client.get(
        f"/v1/jobs/{wait_done(api, r.json()['job_id'])['job_id']}/result", headers=api.auth()).json()
    codes = [(i["error"] or {}).get("code") for i in body["items"]]
    assert codes == ["unsupported_media_type", None, "unsupported_media_type"]
    assert [i["input_ref"] for i in body["items"]][0::2] == [None, None]
    stored = [p for p in (api.artifacts_dir / "inputs").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [body["items"][1]["input_ref"].rsplit("/", 1)[-1]]


def test_async_upload_202_status_is_queued_or_running(make_api: Any) -> None:
    """Issue 13, item 11: the 202 of an async upload says `running` when its items started while
    the body arrived (fields first, ADR 0051) and `queued` when the job waits for a runner;
    never another value — a replayed key answers as far as its job got. Both values are the
    documented enum of the 202 body."""
    api = make_api(jobs_max_concurrency=1)
    schema = api.client.get("/schema/openapi.json").json()["components"]["schemas"]["JobAcceptedOut"]
    assert schema["properties"]["status"]["enum"] == ["queued", "running"]

    files = [(f"{i}.png", image_bytes(size=(70 + i, 20))) for i in range(3)]
    parts = [("files", (name, content, "image/png")) for name, content in files]
    headers = {**api.auth(), "Idempotency-Key": "status-k1"}
    live = api.client.post("/v1/batch_extract_upload_async", headers=headers,
                           data={"task_id": "receipt_fields_v1"}, files=parts)
    assert live.status_code == 202 and live.json()["status"] == "running", live.text
    wait_done(api, live.json()["job_id"])
    replay = api.client.post("/v1/batch_extract_upload_async", headers=headers,
                             data={"task_id": "receipt_fields_v1"}, files=parts)
    assert replay.json() == live.json()  # the same job; it started, so `running` (poll_url says succeeded)

    # One runner, busy: a job accepted meanwhile waits in the queue.
    blocker = upload(api, [("mock_slow_1500_a.png", image_bytes(size=(81, 20)))],
                     path="/v1/batch_extract_upload_async").json()
    assert blocker["status"] == "running"
    waiting = upload(api, [("w.png", image_bytes(size=(82, 20)))], path="/v1/batch_extract_upload_async").json()
    assert waiting["status"] == "queued"
    wait_done(api, blocker["job_id"])
    assert wait_done(api, waiting["job_id"])["status"] == "succeeded"
