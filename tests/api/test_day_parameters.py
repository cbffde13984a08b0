"""Days named by clients (issue 13, item 7): only ``YYYY-MM-DD`` naming a real day; anything
else is refused before any lookup — ``?date=`` of the debug listing, ``batch_date`` of a rerun
(sync and async) and of an evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.batches_helpers import upload
from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_bytes

# Not a day, though strptime("%Y-%m-%d") or a "$"-anchored pattern lets each through.
CALENDAR_ERRORS = ["2026-02-30", "2026-13-01", "2026-01-01\n"]
SHAPE_ERRORS = ["2026-1-1", "2026-01-1", "2026/01/01", "20260101", "２０２６-01-01"]


@pytest.fixture
def debug_api(make_api: Any) -> Api:
    return make_api(debug_mode=True)


@pytest.mark.parametrize("day", CALENDAR_ERRORS + SHAPE_ERRORS)
def test_debug_artifacts_date_must_be_a_calendar_day(debug_api: Api, day: str) -> None:
    r = debug_api.client.get("/v1/debug/artifacts", params={"date": day}, headers=debug_api.auth("admin"))
    error = assert_envelope(r, 400, "bad_request")
    assert error["details"]["field"] == "date"


def test_debug_artifacts_date_in_the_right_form_lists_that_day(debug_api: Api) -> None:
    r = debug_api.client.get("/v1/debug/artifacts", params={"date": "2026-01-01"}, headers=debug_api.auth("admin"))
    assert r.status_code == 200 and r.json() == {"date": "2026-01-01", "items": []}
    today = debug_api.client.get("/v1/debug/artifacts", headers=debug_api.auth("admin")).json()
    assert len(today["date"]) == 10 and today["date"][4] == "-"


def test_the_debug_listing_does_not_exist_without_debug_mode(api: Api) -> None:
    assert_envelope(api.client.get("/v1/debug/artifacts?date=2026-1-1", headers=api.auth("admin")), 404, "not_found")


@pytest.mark.parametrize("path", ["/v1/batch_extract_rerun", "/v1/batch_extract_rerun_async"])
def test_rerun_batch_date_must_be_a_calendar_day(debug_api: Api, path: str) -> None:
    run = upload(debug_api, [("a.png", image_bytes())], run_id="days-src", persist_inputs="true").json()
    day = run["created_at"][:10]
    body = {"task_id": "receipt_fields_v1", "run_id": "days-src"}
    for bad in CALENDAR_ERRORS:
        error = assert_envelope(debug_api.client.post(path, headers=debug_api.auth(), json={**body, "batch_date": bad}),
                                400, "bad_request")
        assert error["details"] == {"field": "batch_date"}
    for bad in SHAPE_ERRORS:  # the documented pattern refuses these while the body is read
        error = assert_envelope(debug_api.client.post(path, headers=debug_api.auth(), json={**body, "batch_date": bad}),
                                422, "validation_error")
        assert error["details"]["errors"][0]["path"] == "$.batch_date"
    assert debug_api.client.get("/v1/jobs", headers=debug_api.auth()).json()["items"] == []  # no job was made
    ok = debug_api.client.post(path, headers=debug_api.auth(), json={**body, "batch_date": day})
    assert ok.status_code in (200, 202), ok.text


def test_eval_batch_date_must_be_a_calendar_day(debug_api: Api) -> None:
    upload(debug_api, [("a.png", image_bytes())], run_id="days-eval")
    body = {"run_id": "days-eval", "gt": [{"file": "a.png"}]}
    for bad in CALENDAR_ERRORS:
        r = debug_api.client.post("/v1/debug/eval/batch_vs_gt", headers=debug_api.auth(), json={**body, "batch_date": bad})
        assert assert_envelope(r, 400, "bad_request")["details"] == {"field": "batch_date"}
    r = debug_api.client.post("/v1/debug/eval/batch_vs_gt", headers=debug_api.auth(), json={**body, "batch_date": "2026-1-1"})
    assert_envelope(r, 422, "validation_error")
