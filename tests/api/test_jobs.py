"""Async jobs (SPEC §4, §7): 202 answers, idempotency, long-poll, result, cancel, listing."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from tests.api.batches_helpers import upload, wait_done
from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_b64, image_bytes


def submit_extract(api: Api, role: str = "admin", headers: dict[str, str] | None = None, **body: Any) -> Any:
    body = {"task_id": "receipt_fields_v1", "image_base64": image_b64(), "mime_type": "image/png", **body}
    return api.client.post("/v1/extract_async", headers={**api.auth(role), **(headers or {})}, json=body)


def test_extract_async_runs_the_same_use_case_and_never_stores_base64(api: Api) -> None:
    r = submit_extract(api, request_id="async-1")
    assert r.status_code == 202, r.text
    job = wait_done(api, r.json()["job_id"])
    assert job["status"] == "succeeded" and job["kind"] == "extract"
    assert job["result"]["request_id"] == "async-1" and job["result"]["ok"] is True
    result = api.client.get(f"/v1/jobs/{job['job_id']}/result", headers=api.auth()).json()
    assert result["request_id"] == "async-1" and result["parsed"] and result["raw"] is None
    stored = api.client.get("/v1/runs/item/async-1", headers=api.auth()).json()
    assert stored["input"]["image_ref"].startswith("inputs/admin-key/")
    with open(api.settings.jobs_db_path, "rb") as db:
        assert image_b64()[:40].encode() not in db.read()


def test_extract_async_validates_synchronously(api: Api) -> None:
    assert_envelope(submit_extract(api, task_id="nope"), 404, "unknown_task")
    assert_envelope(submit_extract(api, image_base64="!!!"), 400, "bad_request")
    wait_done(api, submit_extract(api, request_id="taken").json()["job_id"])
    assert_envelope(submit_extract(api, request_id="taken"), 409, "artifact_exists")


def test_idempotency_key(api: Api) -> None:
    first = submit_extract(api, headers={"Idempotency-Key": "k-1"}, request_id="idem-1")
    again = submit_extract(api, headers={"Idempotency-Key": "k-1"}, request_id="idem-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"]
    different = submit_extract(api, headers={"Idempotency-Key": "k-1"}, request_id="idem-2")
    assert_envelope(different, 422, "validation_error")
    other_caller = submit_extract(api, role="client", headers={"Idempotency-Key": "k-1"}, request_id="idem-3")
    assert other_caller.status_code == 202 and other_caller.json()["job_id"] != first.json()["job_id"]
    assert_envelope(submit_extract(api, headers={"Idempotency-Key": "x" * 256}), 400, "bad_request")


def test_cancel_a_queued_job_means_it_never_runs(make_api: Any) -> None:
    api = make_api(jobs_max_concurrency=1)
    blocker = submit_extract(api, request_id="mock_slow_1500_a").json()["job_id"]
    queued = submit_extract(api, request_id="never-runs").json()["job_id"]
    r = api.client.post(f"/v1/jobs/{queued}/cancel", headers=api.auth())
    assert r.json() == {"job_id": queued, "status": "canceled", "cancel_requested": True}
    wait_done(api, blocker)
    time.sleep(0.3)
    job = api.client.get(f"/v1/jobs/{queued}", headers=api.auth()).json()
    assert job["status"] == "canceled" and job["started_at"] is None
    assert_envelope(api.client.get("/v1/runs/item/never-runs", headers=api.auth()), 404, "not_found")
    assert_envelope(api.client.post(f"/v1/jobs/{queued}/cancel", headers=api.auth()), 409, "conflict")
    assert_envelope(api.client.post(f"/v1/jobs/{blocker}/cancel", headers=api.auth()), 409, "conflict")


def test_cancel_a_running_batch_keeps_finished_items(make_api: Any) -> None:
    api = make_api(mock_latency_ms=150)
    files = [(f"{i:02d}.png", image_bytes(size=(20 + i, 20))) for i in range(20)]
    job_id = upload(api, files, path="/v1/batch_extract_upload_async", concurrency=1).json()["job_id"]
    deadline = time.monotonic() + 10
    while api.client.get(f"/v1/jobs/{job_id}", headers=api.auth()).json()["progress"]["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert api.client.post(f"/v1/jobs/{job_id}/cancel", headers=api.auth()).json()["cancel_requested"] is True
    job = wait_done(api, job_id)
    assert job["status"] == "canceled"
    result = api.client.get(f"/v1/jobs/{job_id}/result", headers=api.auth()).json()
    # Progress is written at most every 0.5 s, so "done" lags by a few 150 ms items; the batch
    # still stops long before its 20 items, and the job's final progress matches the result.
    assert 2 <= result["item_count"] <= 10 and job["progress"]["done"] == result["item_count"]
    assert [i["file"] for i in result["items"]] == [f"{i:02d}.png" for i in range(result["item_count"])]
    assert all((api.artifacts_dir / i["artifact_rel"]).is_file() for i in result["items"])
    assert (api.artifacts_dir / result["artifact_rel"]).is_file()


def test_long_poll_returns_on_status_change(make_api: Any) -> None:
    api = make_api()
    job_id = submit_extract(api, request_id="mock_slow_700_poll").json()["job_id"]
    started = time.monotonic()
    job = api.client.get(f"/v1/jobs/{job_id}?wait=10", headers=api.auth()).json()
    while job["status"] not in ("succeeded", "failed"):
        job = api.client.get(f"/v1/jobs/{job_id}?wait=10", headers=api.auth()).json()
    assert time.monotonic() - started < 5
    assert_envelope(api.client.get(f"/v1/jobs/{job_id}?wait=31", headers=api.auth()), 400, "bad_request")


def test_result_before_the_job_finishes_is_409(make_api: Any) -> None:
    api = make_api()
    job_id = submit_extract(api, request_id="mock_slow_1000_res").json()["job_id"]
    assert_envelope(api.client.get(f"/v1/jobs/{job_id}/result", headers=api.auth()), 409, "conflict")
    wait_done(api, job_id)


def test_jobs_are_owner_scoped_and_paged(api: Api) -> None:
    mine = [submit_extract(api, role="client").json()["job_id"] for _ in range(3)]
    theirs = submit_extract(api, role="other").json()["job_id"]
    for job_id in mine + [theirs]:
        wait_done(api, job_id, role="admin")
    assert_envelope(api.client.get(f"/v1/jobs/{theirs}", headers=api.auth("client")), 404, "not_found")
    assert_envelope(api.client.get(f"/v1/jobs/{theirs}/result", headers=api.auth("client")), 404, "not_found")
    assert_envelope(api.client.post(f"/v1/jobs/{theirs}/cancel", headers=api.auth("client")), 404, "not_found")
    page1 = api.client.get("/v1/jobs?limit=2", headers=api.auth("client")).json()
    page2 = api.client.get(f"/v1/jobs?limit=2&cursor={page1['next_cursor']}", headers=api.auth("client")).json()
    seen = [j["job_id"] for j in page1["items"] + page2["items"]]
    assert sorted(seen) == sorted(mine) and page2["next_cursor"] is None
    everyone = api.client.get("/v1/jobs?limit=50&status=succeeded", headers=api.auth("admin")).json()
    assert {theirs, *mine} <= {j["job_id"] for j in everyone["items"]}
    assert_envelope(api.client.get("/v1/jobs?status=bogus", headers=api.auth()), 400, "bad_request")
    assert_envelope(api.client.get("/v1/jobs?cursor=garbage!", headers=api.auth()), 400, "bad_request")
    assert_envelope(api.client.get("/v1/jobs/bad..id", headers=api.auth()), 400, "bad_request")


DONE_OK = {"stage": "succeeded", "total": 1, "done": 1, "ok": 1, "err": 0, "current": None}


def test_a_single_extract_job_counts_its_item_in_progress(make_api: Any) -> None:
    """Issue 13, item 8: a succeeded extract job shows done 1, ok 1 (it used to show 0/0); a
    model failure (a result with ``error``) counts as done and failed, as in a batch; a job
    that failed outright too; a job canceled before it ran counts nothing."""
    api = make_api(jobs_max_concurrency=1)
    queued = submit_extract(api, request_id="progress-queued")
    assert queued.status_code == 202
    assert api.client.get(queued.json()["poll_url"], headers=api.auth()).json()["progress"]["total"] == 1

    ok = wait_done(api, queued.json()["job_id"])
    assert ok["status"] == "succeeded" and ok["result"]["ok"] is True
    assert ok["progress"] == DONE_OK

    model_failed = wait_done(api, submit_extract(api, request_id="mock_fail_json_progress").json()["job_id"])
    assert model_failed["status"] == "succeeded" and model_failed["result"]["ok"] is False
    assert model_failed["progress"] == {**DONE_OK, "ok": 0, "err": 1}

    # A job that fails outright: its stored input is gone by the time it runs.
    blocker = submit_extract(api, request_id="mock_slow_1500_progress").json()["job_id"]
    doomed = submit_extract(api, request_id="progress-doomed", image_base64=image_b64(size=(33, 21))).json()["job_id"]
    canceled = submit_extract(api, request_id="progress-canceled", image_base64=image_b64(size=(34, 21))).json()
    stored = api.client.get(f"/v1/jobs/{doomed}", headers=api.auth()).json()
    assert stored["status"] == "queued"
    digest = hashlib.sha256(image_bytes(size=(33, 21))).hexdigest()
    (api.artifacts_dir / "inputs" / "admin-key" / digest[:2] / f"{digest}.png").unlink()
    api.client.post(f"/v1/jobs/{canceled['job_id']}/cancel", headers=api.auth())
    wait_done(api, blocker)
    failed = wait_done(api, doomed)
    assert failed["status"] == "failed" and failed["error"]["code"]
    assert failed["progress"] == {**DONE_OK, "stage": "failed", "ok": 0, "err": 1}
    never_ran = api.client.get(canceled["poll_url"], headers=api.auth()).json()
    assert never_ran["status"] == "canceled"
    assert never_ran["progress"] == {"stage": "canceled", "total": 1, "done": 0, "ok": 0, "err": 0, "current": None}
