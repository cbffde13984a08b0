"""Streaming multipart reception: files reach the store callback while the body still arrives,
memory stays bounded, and failures stop the upload without leftovers (ADR 0008)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from domain.errors import PayloadTooLargeError, StorageUnavailableError
from entrypoints.http.multipart import MEMORY_PART_BYTES, SpooledFile, receive_upload

BOUNDARY = "xyzBOUNDARYzyx"


def form(files: list[tuple[str, bytes]], fields: dict[str, str] | None = None) -> bytes:
    out = bytearray()
    for name, value in (fields or {}).items():
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for filename, content in files:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                "Content-Type: image/png\r\n\r\n").encode() + content + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


class FakeRequest:
    """What receive_upload uses of a Litestar request: the headers and the body stream."""

    def __init__(self, body: bytes, chunk: int = 16 * 1024) -> None:
        self.headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        self._body, self._chunk = body, chunk
        self.consumed = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), self._chunk):
            self.consumed = start + self._chunk
            yield self._body[start:start + self._chunk]
            await asyncio.sleep(0)


def spool_dirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("ocr-upload-")}


async def test_small_parts_stay_in_memory_large_ones_spill_and_all_are_released() -> None:
    small, large = os.urandom(1000), os.urandom(MEMORY_PART_BYTES + 5000)
    seen: list[tuple[str, bool, bool, bytes]] = []

    async def store(f: SpooledFile) -> None:
        content = b"".join([c async for c in f.chunks()])
        seen.append((f.filename, f.data is not None, f.path is not None, content))
        f.ref = f"ref-{f.filename}"

    before = spool_dirs()
    got = await receive_upload(FakeRequest(form([("s.png", small), ("l.png", large)], {"task_id": "t"})),
                               store=store, max_files=10, max_file_bytes=10 * MEMORY_PART_BYTES)
    assert seen == [("s.png", True, False, small), ("l.png", False, True, large)]
    assert got.fields == {"task_id": "t"}
    assert [(f.ref, f.sha256, f.size) for f in got.files] == [
        ("ref-s.png", hashlib.sha256(small).hexdigest(), len(small)),
        ("ref-l.png", hashlib.sha256(large).hexdigest(), len(large))]
    assert all(f.data is None and f.path is None for f in got.files)  # released once stored
    got.cleanup()
    assert spool_dirs() == before


async def test_stores_overlap_the_upload_and_reading_pauses_at_max_pending() -> None:
    files = [(f"{i}.png", os.urandom(3000)) for i in range(12)]
    request = FakeRequest(form(files), chunk=4096)
    release = asyncio.Event()
    running, peak, consumed_when_full = 0, 0, []

    async def store(f: SpooledFile) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            await asyncio.sleep(0.05)  # reading goes on until the next file needs a slot ...
            consumed_when_full.append(request.consumed)
            await asyncio.sleep(0.05)
            consumed_when_full.append(request.consumed)  # ... and then waits for one
            release.set()
        await release.wait()
        running -= 1

    await receive_upload(request, store=store, max_files=20, max_file_bytes=10_000, max_pending=3)
    assert peak == 3
    assert consumed_when_full[0] == consumed_when_full[1] < len(form(files))


async def test_a_failing_store_stops_the_upload_and_leaves_no_spool() -> None:
    files = [(f"{i}.png", os.urandom(MEMORY_PART_BYTES + 10)) for i in range(6)]
    calls: list[str] = []

    async def store(f: SpooledFile) -> None:
        calls.append(f.filename)
        if f.filename == "1.png":
            raise StorageUnavailableError("down")

    before = spool_dirs()
    with pytest.raises(StorageUnavailableError):
        await receive_upload(FakeRequest(form(files)), store=store, max_files=10,
                             max_file_bytes=2 * MEMORY_PART_BYTES, max_pending=1)
    assert calls[:2] == ["0.png", "1.png"] and len(calls) <= 3
    assert spool_dirs() == before


async def test_limits_are_enforced_while_reading() -> None:
    async def store(f: SpooledFile) -> None:
        return None

    with pytest.raises(PayloadTooLargeError):
        await receive_upload(FakeRequest(form([("a.png", b"x")] * 3)), store=store, max_files=2, max_file_bytes=100)
    with pytest.raises(PayloadTooLargeError):
        await receive_upload(FakeRequest(form([("a.png", b"x" * 101)])), store=store, max_files=2,
                             max_file_bytes=100)


def test_fake_request_matches_what_receive_upload_reads(tmp_path: Path) -> None:
    request: Any = FakeRequest(b"")
    assert set(vars(request)) >= {"headers"} and hasattr(request, "stream")
