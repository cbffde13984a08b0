"""Streaming multipart/form-data: each file part goes to a temp file while it is hashed, so
memory does not grow with the upload; limits are enforced while reading (SPEC §6.3)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from litestar import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from domain.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError

MAX_FIELD_BYTES = 64 * 1024
CHUNK = 1024 * 1024


@dataclass
class SpooledFile:
    filename: str
    content_type: str | None
    path: Path
    size: int
    sha256: str

    async def chunks(self) -> AsyncIterator[bytes]:
        with self.path.open("rb") as fh:
            while block := fh.read(CHUNK):
                yield block


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[SpooledFile] = field(default_factory=list)
    spool_dir: Path | None = None

    def cleanup(self) -> None:
        for f in self.files:
            f.path.unlink(missing_ok=True)
        if self.spool_dir is not None:
            self.spool_dir.rmdir()


class _Receiver:
    def __init__(self, spool_dir: Path, *, file_field: str, max_files: int, max_file_bytes: int) -> None:
        self.form = UploadForm(spool_dir=spool_dir)
        self._file_field, self._max_files, self._max_file_bytes = file_field, max_files, max_file_bytes
        self._headers: dict[str, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._name: str | None = None
        self._filename: str | None = None
        self._value = bytearray()
        self._fh: IO[bytes] | None = None
        self._hash: Any = None
        self._size = 0

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._part_begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value_cb, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
                "on_part_end": self._part_end}

    def _part_begin(self) -> None:
        self._headers, self._name, self._filename, self._value, self._size = {}, None, None, bytearray(), 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.decode("latin-1").lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is not None:
            if self._name != self._file_field:
                raise InvalidInputError(f"unexpected file field {self._name!r}", details={"field": self._name})
            if len(self.form.files) >= self._max_files:
                raise PayloadTooLargeError("too many files (MAX_BATCH_FILES)", details={"max_files": self._max_files})
            self._filename = os.path.basename(filename.decode("utf-8", "replace").replace("\\", "/")) or "upload"
            index = len(self.form.files)
            self._fh = (self.form.spool_dir / f"{index:06d}.part").open("wb")  # type: ignore[operator]
            self._hash = hashlib.sha256()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        self._size += len(chunk)
        if self._fh is not None:
            if self._size > self._max_file_bytes:
                raise PayloadTooLargeError(f"file {self._filename!r} is larger than MAX_IMAGE_BYTES",
                                           details={"max_bytes": self._max_file_bytes})
            self._fh.write(chunk)
            self._hash.update(chunk)
        else:
            if self._size > MAX_FIELD_BYTES:
                raise PayloadTooLargeError(f"form field {self._name!r} is too large")
            self._value += chunk

    def _part_end(self) -> None:
        if self._fh is not None:
            path = Path(self._fh.name)
            self._fh.close()
            self._fh = None
            content_type = self._headers.get("content-type", b"").decode("latin-1") or None
            self.form.files.append(SpooledFile(self._filename or "upload", content_type, path, self._size,
                                               self._hash.hexdigest()))
        elif self._name:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            Path(self._fh.name).unlink(missing_ok=True)
            self._fh = None


async def receive_upload(request: Request, *, file_field: str = "files", max_files: int,
                         max_file_bytes: int) -> UploadForm:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedMediaError("the body must be multipart/form-data")
    receiver = _Receiver(Path(tempfile.mkdtemp(prefix="ocr-upload-")), file_field=file_field,
                         max_files=max_files, max_file_bytes=max_file_bytes)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except BaseException:
        receiver.abort()
        receiver.form.cleanup()
        raise
    return receiver.form
