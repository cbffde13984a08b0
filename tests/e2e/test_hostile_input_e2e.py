"""Hostile input (issue 12) against `ocr-orchestrator serve`: what only the real server shows —
request targets its HTTP parser cannot read (item 10), multipart bodies streamed in pieces
with the service's TMPDIR checked for leftovers (item 2), and nesting and cursors against the
real stores (item 1). Every answer is the SPEC §4 envelope; the log holds no traceback."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e

MAX_TARGET = 65_535


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("hostile")
    spool = tmp / "tmpdir"
    spool.mkdir()
    env = {**base_env(tmp), "TMPDIR": str(spool)}
    key = create_key(env, "admin-hostile", "admin")
    service = ServiceProcess(env, tmp).start()
    try:
        yield {"service": service, "key": key, "spool": spool, "artifacts": tmp / "artifacts"}
    finally:
        service.stop()
    logs = service.logs()
    assert "Traceback" not in logs
    assert not [r for r in service.log_records() if r.get("level") in ("ERROR", "CRITICAL")]


def raw_request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; read the whole answer (the server closes after a refusal)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def assert_envelope(status: int, headers: dict[str, str], body: bytes, expected: int, code: str) -> dict[str, Any]:
    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "request_id", "details"} and error["code"] == code
    assert error["request_id"] == headers["x-request-id"]
    return error


# --- item 10: the request line -------------------------------------------------------------

def target(length: int) -> bytes:
    prefix = b"/v1/runs?pad="
    return prefix + b"a" * (length - len(prefix))


@pytest.mark.parametrize("length", [MAX_TARGET + 1, 70_000, 1_000_000])
def test_a_request_target_longer_than_the_parser_reads_gets_the_envelope(served: dict[str, Any],
                                                                         length: int) -> None:
    status, headers, body = raw_request(served["service"].port,
                                        b"GET " + target(length) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    error = assert_envelope(status, headers, body, 400, "bad_request")
    assert error["message"] == f"the request target is longer than {MAX_TARGET} bytes"
    assert error["details"] == {"max_target_bytes": MAX_TARGET}
    assert headers["connection"] == "close"
    assert error["request_id"] in served["service"].logs()  # the refusal is logged under its id


def test_a_request_target_the_parser_reads_reaches_the_app(served: dict[str, Any]) -> None:
    status, headers, body = raw_request(served["service"].port,
                                        b"GET " + target(MAX_TARGET) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_envelope(status, headers, body, 401, "auth_missing")


@pytest.mark.parametrize("request_bytes", [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x00\x01\x02\r\n\r\n"])
def test_a_request_the_parser_refuses_gets_the_envelope(served: dict[str, Any], request_bytes: bytes) -> None:
    status, headers, body = raw_request(served["service"].port, request_bytes)
    error = assert_envelope(status, headers, body, 400, "bad_request")
    assert error["message"] == "the request is not valid HTTP/1.1" and error["details"] == {}


# --- item 2: multipart, streamed -----------------------------------------------------------

def part(boundary: str, name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


BIG = image_bytes(size=(400, 400)) + b"\0" * (600 * 1024)  # spills to a temp file as it arrives
LONG = "x" * 300
STREAMED = {  # name: (boundary in the header, pieces of the body, message)
    "boundary over 256 characters": (LONG, [part(LONG, "task_id", b"receipt_fields_v1"), f"--{LONG}--\r\n".encode()],
                                     "the boundary is too long"),
    "garbage": ("B0und", [bytes(range(256)) * 64] * 4, "it does not follow the boundary and part-header syntax"),
    "boundary that does not match": ("Other", [part("B0und", "task_id", b"receipt_fields_v1"), b"--B0und--\r\n"],
                                     "it does not follow the boundary and part-header syntax"),
    "10,000-character filename": ("B0und", [part("B0und", "files", image_bytes(), "a" * 10_000 + ".png")],
                                  "a part has too many or too large headers"),
    "spilled file, then garbage": ("B0und", [part("B0und", "task_id", b"receipt_fields_v1"),
                                             part("B0und", "files", BIG[: len(BIG) // 2], "big.png")[:-2],
                                             BIG[len(BIG) // 2:] + b"\r\n--B0und\r\n\x00\x01\r\n"],
                                   "it does not follow the boundary and part-header syntax"),
    "spilled file cut off": ("B0und", [part("B0und", "task_id", b"receipt_fields_v1"),
                                       part("B0und", "files", BIG, "big.png")[:-300]],
                             "it ends before the closing boundary"),
}


@pytest.mark.parametrize("case", STREAMED.values(), ids=STREAMED.keys())
def test_malformed_multipart_streamed_is_a_400_and_leaves_no_temp_directory(served: dict[str, Any],
                                                                           case: tuple[str, list[bytes], str]) -> None:
    boundary, pieces, reason = case
    inputs_before = set((served["artifacts"] / "inputs").rglob("*"))
    r = httpx.post(f"{served['service'].base_url}/v1/batch_extract_upload", content=iter(pieces), timeout=30,
                   headers={"X-API-Key": served["key"], "Content-Type": f"multipart/form-data; boundary={boundary}"})
    error = assert_envelope(r.status_code, dict(r.headers), r.content, 400, "bad_request")
    assert error["message"] == f"the body is not valid multipart/form-data: {reason}"
    assert list(served["spool"].iterdir()) == []
    assert set((served["artifacts"] / "inputs").rglob("*")) == inputs_before


def test_a_spilled_upload_that_succeeds_leaves_no_temp_directory(served: dict[str, Any]) -> None:
    pieces = [part("B0und", "task_id", b"receipt_fields_v1"), part("B0und", "files", BIG, "big.png"),
              b"--B0und--\r\n"]
    r = httpx.post(f"{served['service'].base_url}/v1/batch_extract_upload", content=iter(pieces), timeout=30,
                   headers={"X-API-Key": served["key"], "Content-Type": "multipart/form-data; boundary=B0und"})
    assert r.status_code == 200, r.text
    assert list(served["spool"].iterdir()) == []


# --- item 1: nesting and cursors against the real stores -----------------------------------

def test_deeply_nested_json_is_a_400(served: dict[str, Any]) -> None:
    for path in ("/v1/extract", "/v1/batch_extract", "/v1/ground_truths"):
        r = httpx.post(f"{served['service'].base_url}{path}", content="[" * 1000 + "]" * 1000, timeout=30,
                       headers={"X-API-Key": served["key"], "Content-Type": "application/json"})
        error = assert_envelope(r.status_code, dict(r.headers), r.content, 400, "bad_request")
        assert error["details"] == {"max_depth": 64}


@pytest.mark.parametrize("path", ["/v1/runs", "/v1/jobs", "/v1/ground_truths"])
def test_a_cursor_holding_nested_json_is_a_400(served: dict[str, Any], path: str) -> None:
    cursor = base64.urlsafe_b64encode(("[" * 1000 + "]" * 1000).encode()).decode()
    r = httpx.get(f"{served['service'].base_url}{path}", params={"cursor": cursor}, timeout=30,
                  headers={"X-API-Key": served["key"]})
    error = assert_envelope(r.status_code, dict(r.headers), r.content, 400, "bad_request")
    assert error["details"] == {"field": "cursor"}
