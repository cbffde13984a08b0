"""Hostile input (issue 12, items 1, 2, 4, 8) through the real app: each case is an exact 4xx
in the SPEC §4 envelope, stores nothing, leaves no temp directory, logs no traceback. What
only the real server shows (the request line, streamed bodies) is in tests/e2e."""

from __future__ import annotations

import base64
import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, assert_envelope
from tests.support.images import image_bytes

TASK = "receipt_fields_v1"
DEEP_ARRAYS = "[" * 1000 + "]" * 1000  # the 2 KB body
DEEP_OBJECTS = '{"a":' * 1000 + "1" + "}" * 1000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def hostile(make_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Api:
    spool = tmp_path / "tmpdir"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # TMPDIR of this test alone
    caplog.set_level(logging.INFO)
    api = make_api(debug_mode=True)
    api.extra["spool"] = spool
    root = Path(api.settings.data_root)
    (root / "set1").mkdir(parents=True)
    (root / "set1" / "a.png").write_bytes(image_bytes())
    return api


def assert_left_nothing(api: Api, caplog: pytest.LogCaptureFixture, job_id: str | None = None) -> None:
    """Nothing stored, no temp directory, no traceback; ``job_id``: an async upload that had
    started its job at the first file (ADR 0051) leaves that job, canceled, and nothing else."""
    stored = [p.relative_to(api.artifacts_dir) for p in api.artifacts_dir.rglob("*") if p.is_file()]
    assert [rel for rel in stored if not (job_id and rel.name == f"{job_id}.json")] == [], stored
    assert {kind for kind, _ in api.index._entries} <= ({"job"} if job_id else set())
    jobs = api.client.get("/v1/jobs", headers=api.auth()).json()["items"]
    assert [(j["job_id"], j["status"]) for j in jobs] == ([(job_id, "canceled")] if job_id else [])
    assert list(api.extra["spool"].iterdir()) == []
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


# --- item 1: deeply nested JSON --------------------------------------------------------------

JSON_ENDPOINTS = [
    ("POST", "/v1/extract"), ("POST", "/v1/extract_async"), ("POST", "/v1/batch_extract"),
    ("POST", "/v1/batch_extract_async"), ("POST", "/v1/batch_extract_rerun"),
    ("POST", "/v1/batch_extract_rerun_async"), ("POST", "/v1/ground_truths"), ("PUT", "/v1/ground_truths/gt-1"),
    ("POST", "/v1/ground_truths/from_run"), ("POST", "/v1/analyze/json"), ("POST", "/v1/debug/eval/batch_vs_gt"),
]
DEEP_BODIES = {
    "1000 nested arrays": DEEP_ARRAYS,
    "1000 nested objects": DEEP_OBJECTS,
    "65 levels inside a field": '{"task_id": "receipt_fields_v1", "run_id": "r1", "gt": ' + nested(64) + "}",
}


@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS, ids=[f"{m} {p}" for m, p in JSON_ENDPOINTS])
def test_deeply_nested_json_is_a_400(hostile: Api, caplog: pytest.LogCaptureFixture, method: str, path: str,
                                     body: str) -> None:
    r = hostile.client.request(method, path, content=body,
                               headers={"Content-Type": "application/json", **hostile.auth()})
    error = assert_envelope(r, 400, "bad_request")
    assert error["message"] == "the JSON is nested more than 64 levels deep"
    assert error["details"] == {"max_depth": 64}
    assert_left_nothing(hostile, caplog)


def test_nesting_up_to_the_bound_is_not_refused_as_such(hostile: Api, caplog: pytest.LogCaptureFixture) -> None:
    body = '{"run_id": "r1", "gt": ' + nested(63) + "}"  # 64 levels with the body itself
    r = hostile.client.post("/v1/debug/eval/batch_vs_gt", content=body,
                            headers={"Content-Type": "application/json", **hostile.auth()})
    assert r.status_code in (400, 404, 422), r.text
    assert "nested" not in r.json()["error"]["message"]


@pytest.mark.parametrize("content", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_deeply_nested_ground_truth_file_is_a_400(hostile: Api, caplog: pytest.LogCaptureFixture,
                                                  content: str) -> None:
    r = hostile.client.post("/v1/ground_truths", headers=hostile.auth(),
                            files=[("file", ("gt.json", content.encode(), "application/json"))])
    assert assert_envelope(r, 400, "bad_request")["details"] == {"max_depth": 64}
    assert_left_nothing(hostile, caplog)


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


CURSORS = {
    "1000 nested arrays": cursor_of(DEEP_ARRAYS),
    "1000 nested objects": cursor_of(DEEP_OBJECTS),
    "over 512 characters": cursor_of('["2026-01-01T00:00:00+00:00", "' + "a" * 600 + '"]'),
}


@pytest.mark.parametrize("cursor", CURSORS.values(), ids=CURSORS.keys())
@pytest.mark.parametrize("path", ["/v1/runs", "/v1/jobs", "/v1/ground_truths"])
def test_a_hostile_cursor_is_a_400(hostile: Api, caplog: pytest.LogCaptureFixture, path: str, cursor: str) -> None:
    r = hostile.client.get(path, params={"cursor": cursor}, headers=hostile.auth())
    error = assert_envelope(r, 400, "bad_request")
    assert error["message"] == "malformed cursor" and error["details"] == {"field": "cursor"}
    assert_left_nothing(hostile, caplog)


# --- item 2: malformed multipart -------------------------------------------------------------

UPLOADS = ["/v1/batch_extract_upload", "/v1/batch_extract_upload_async"]
PNG = image_bytes()
BIG = image_bytes(size=(400, 400)) + b"\0" * (300 * 1024)  # over the in-memory part size: spills to TMPDIR


def part(boundary: str, name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if filename is not None:
        head += "Content-Type: image/png\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def form(boundary: str = "B0und", filename: str = "a.png", content: bytes = PNG, end: bool = True) -> bytes:
    body = part(boundary, "task_id", TASK.encode()) + part(boundary, "files", content, filename)
    return body + (f"--{boundary}--\r\n".encode() if end else b"")


LONG_BOUNDARY = "x" * 300
# name: (boundary in the header, body, status, message[, True: the async job started at the first
# file before the body was refused]). The test client sends a body as one chunk.
MULTIPART = {
    "garbage body": ("B0und", bytes(range(256)) * 12, 400, "it does not follow the boundary and part-header syntax"),
    "plain text body": ("B0und", b"hello world", 400, "it does not follow the boundary and part-header syntax"),
    "boundary that does not match": ("Other", form(), 400, "it does not follow the boundary and part-header syntax"),
    "10,000-character filename": ("B0und", form(filename="a" * 10_000 + ".png"), 400,
                                  "a part has too many or too large headers"),
    "boundary over 256 characters": (LONG_BOUNDARY, form(LONG_BOUNDARY), 400, "the boundary is too long"),
    "empty boundary": ("", form(), 400, "the boundary is empty"),
    "no closing boundary": ("B0und", form(end=False), 400, "it ends before the closing boundary", True),
    "empty body": ("B0und", b"", 400, "it ends before the closing boundary"),
    "part header without a colon": ("B0und", b"--B0und\r\nGarbage\r\n\r\nx\r\n--B0und--\r\n", 400,
                                    "it does not follow the boundary and part-header syntax"),
    "spilled file, then garbage": ("B0und", form(content=BIG, end=False) + b"--B0und\r\n\x00\x01\r\n", 400,
                                   "it does not follow the boundary and part-header syntax"),  # in the same chunk
    "spilled file cut off": ("B0und", form(content=BIG)[:-400], 400, "it ends before the closing boundary", True),
}


@pytest.mark.parametrize("case", MULTIPART.values(), ids=MULTIPART.keys())
@pytest.mark.parametrize("path", UPLOADS)
def test_malformed_multipart_is_a_400(hostile: Api, caplog: pytest.LogCaptureFixture, path: str,
                                      case: tuple[Any, ...]) -> None:
    boundary, body, status, reason, *began = case
    r = hostile.client.post(path, content=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", **hostile.auth()})
    error = assert_envelope(r, status, "bad_request")
    assert error["message"] == f"the body is not valid multipart/form-data: {reason}"
    job_id = error["details"].pop("job_id", None)
    assert error["details"] == ({"field": "boundary"} if reason.startswith("the boundary") else {})
    assert (job_id is not None) == (path.endswith("_async") and began == [True])
    assert_left_nothing(hostile, caplog, job_id)


@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/octet-stream", "text/plain"])
@pytest.mark.parametrize("path", UPLOADS)
def test_an_upload_that_is_not_multipart_is_a_415(hostile: Api, caplog: pytest.LogCaptureFixture, path: str,
                                                  content_type: str) -> None:
    r = hostile.client.post(path, content=form(), headers={"Content-Type": content_type, **hostile.auth()})
    assert_envelope(r, 415, "unsupported_media_type")
    assert_left_nothing(hostile, caplog)


@pytest.mark.parametrize("path", UPLOADS)
def test_a_spilled_upload_that_succeeds_leaves_no_temp_directory(hostile: Api, path: str) -> None:
    r = hostile.client.post(path, content=form(content=BIG), headers={
        "Content-Type": "multipart/form-data; boundary=B0und", **hostile.auth()})
    assert r.status_code in (200, 202), r.text
    assert list(hostile.extra["spool"].iterdir()) == []


# --- item 4: images_dir and glob ------------------------------------------------------------

DIR_CASES = {  # name: (images_dir, glob, field)
    "NUL in images_dir": ("set1\x00/x", "**/*", "images_dir"),
    "NUL in glob": ("set1", "*.png\x00", "glob"),
    "'**' inside a component": ("set1", "**.png", "glob"),
    "'**' after a name": ("set1", "a**/*.png", "glob"),
    "glob '.'": ("set1", ".", "glob"),
    "a 300-character component": ("a" * 300, "**/*", "images_dir"),
}


@pytest.mark.parametrize("case", DIR_CASES.values(), ids=DIR_CASES.keys())
@pytest.mark.parametrize("path", ["/v1/batch_extract", "/v1/batch_extract_async"])
def test_a_hostile_images_dir_or_glob_is_a_400_naming_the_field(hostile: Api, caplog: pytest.LogCaptureFixture,
                                                                path: str, case: tuple[str, str, str]) -> None:
    images_dir, glob, field = case
    r = hostile.client.post(path, headers=hostile.auth(), json={"task_id": TASK, "images_dir": images_dir,
                                                                "glob": glob})
    details = assert_envelope(r, 400, "bad_request")["details"]
    # A refused directory also names the configured root (details.data_root).
    assert details["field"] == field and set(details) <= {"field", "data_root"}
    assert_left_nothing(hostile, caplog)


# --- item 8: images that do not fully decode ------------------------------------------------

def cut(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def icon() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, format="ICO")
    return buf.getvalue()


PHOTO = image_bytes("JPEG", (400, 300), color="gray")
BAD_IMAGES = {  # name: (bytes, mime_type, message)
    "JPEG cut in half": (cut(PHOTO, 0.5), "image/jpeg", "the data is not a decodable image"),
    "JPEG without its last bytes": (PHOTO[:-3], "image/jpeg", "the data is not a decodable image"),
    "PNG cut in half": (cut(image_bytes("PNG", (400, 300)), 0.5), "image/png", "the data is not a decodable image"),
    "GIF cut in half": (cut(image_bytes("GIF", (400, 300)), 0.5), "image/gif", "the data is not a decodable image"),
    "BMP cut in half": (cut(image_bytes("BMP", (400, 300)), 0.5), "image/bmp", "the data is not a decodable image"),
    "TIFF cut in half": (cut(image_bytes("TIFF", (400, 300)), 0.5), "image/tiff", "the data is not a decodable image"),
    "an ICO sent as PNG": (icon(), "image/png", "the data is not an image of an accepted format"),
}


@pytest.mark.parametrize("case", BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
@pytest.mark.parametrize("path", ["/v1/extract", "/v1/extract_async"])
def test_an_image_that_does_not_fully_decode_is_a_400(hostile: Api, caplog: pytest.LogCaptureFixture, path: str,
                                                      case: tuple[bytes, str, str]) -> None:
    data, mime, message = case
    r = hostile.client.post(path, headers=hostile.auth(), json={
        "task_id": TASK, "image_base64": base64.b64encode(data).decode(), "mime_type": mime})
    assert assert_envelope(r, 400, "bad_request")["message"] == message
    assert_left_nothing(hostile, caplog)


def test_a_complete_image_of_each_accepted_format_is_accepted(hostile: Api) -> None:
    for fmt, mime in [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif"),
                      ("BMP", "image/bmp"), ("TIFF", "image/tiff")]:
        r = hostile.client.post("/v1/extract", headers=hostile.auth(), json={
            "task_id": TASK, "image_base64": base64.b64encode(image_bytes(fmt, (200, 150))).decode(),
            "mime_type": mime})
        assert r.status_code == 200, (fmt, r.text)


def test_a_truncated_jpeg_in_an_upload_batch_is_an_item_error(hostile: Api) -> None:
    r = hostile.client.post("/v1/batch_extract_upload", headers=hostile.auth(), data={"task_id": TASK},
                            files=[("files", ("cut.jpg", cut(PHOTO, 0.5), "image/jpeg")),
                                   ("files", ("whole.jpg", PHOTO, "image/jpeg"))])
    assert r.status_code == 200, r.text
    cut_item, whole = r.json()["items"]
    assert cut_item["ok"] is False and cut_item["error"]["code"] == "bad_request"
    assert cut_item["error"]["message"] == "the data is not a decodable image"
    assert whole["ok"] is True
