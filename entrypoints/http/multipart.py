"""Streaming multipart/form-data (SPEC §6.3): limits are enforced while reading, and each
file is handed to a store callback as soon as its part ends, while the rest of the body is
still arriving (ADR 0008).

A file part is hashed as it arrives and held in memory up to ``MEMORY_PART_BYTES``; a larger
part spills to a temp file. At most ``max_pending`` finished files wait for their store at a
time — reading pauses beyond that — and a stored file's bytes are released, so memory stays
bounded by ``max_pending × MEMORY_PART_BYTES`` whatever the size of the upload."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from litestar import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from domain.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError

MAX_FIELD_BYTES = 64 * 1024
MEMORY_PART_BYTES = 256 * 1024
CHUNK = 1024 * 1024


@dataclass
class SpooledFile:
    filename: str
    content_type: str | None
    size: int
    sha256: str
    index: int = 0  # position among the form's files
    data: bytes | None = None  # a small part, until stored
    path: Path | None = None  # a large part's temp file
    ref: str | None = None  # set by the store callback
    created: bool = False  # whether storing it created the ref
    error: dict[str, Any] | None = None  # set instead of ``ref`` when the file was refused, not stored

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while block := fh.read(CHUNK):
                yield block

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes."""
        if self.data is not None:
            return self.data[:size]
        assert self.path is not None
        with self.path.open("rb") as fh:
            return fh.read(size)

    def release(self) -> None:
        """Drop the content once stored; the ref stays."""
        self.data = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


StoreFile = Callable[[SpooledFile], Awaitable[None]]
FirstFile = Callable[[dict[str, str]], Awaitable[None]]


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[SpooledFile] = field(default_factory=list)
    spool_dir: Path | None = None

    def cleanup(self) -> None:
        for f in self.files:
            f.release()
        if self.spool_dir is not None:
            shutil.rmtree(self.spool_dir, ignore_errors=True)  # with a part cut off mid-body
            self.spool_dir = None

    def spool_path(self, index: int) -> Path:
        """Where a part too big for memory goes; the directory exists only once one does."""
        if self.spool_dir is None:
            self.spool_dir = Path(tempfile.mkdtemp(prefix="ocr-upload-"))
        return self.spool_dir / f"{index:06d}.part"


class _Receiver:
    def __init__(self, *, file_field: str, max_files: int, max_file_bytes: int) -> None:
        self.form = UploadForm()
        self._file_field, self._max_files, self._max_file_bytes = file_field, max_files, max_file_bytes
        self._headers: dict[str, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._name: str | None = None
        self._filename: str | None = None
        self._value = bytearray()
        self._in_file = False
        self._buffer = bytearray()
        self._fh: IO[bytes] | None = None
        self._hash: Any = None
        self._size = 0
        self.finished: list[SpooledFile] = []  # ended since the caller last took them
        self.file_started = False  # a file part has begun: the fields before it are known

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
            self.file_started = True
            self._filename = os.path.basename(filename.decode("utf-8", "replace").replace("\\", "/")) or "upload"
            self._in_file, self._buffer, self._fh = True, bytearray(), None
            self._hash = hashlib.sha256()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        self._size += len(chunk)
        if self._in_file:
            if self._size > self._max_file_bytes:
                raise PayloadTooLargeError(f"file {self._filename!r} is larger than MAX_IMAGE_BYTES",
                                           details={"max_bytes": self._max_file_bytes})
            self._hash.update(chunk)
            if self._fh is None and self._size <= MEMORY_PART_BYTES:
                self._buffer += chunk
                return
            if self._fh is None:  # too big for memory: spill what we have, stream the rest
                self._fh = self.form.spool_path(len(self.form.files)).open("wb")
                self._fh.write(self._buffer)
                self._buffer = bytearray()
            self._fh.write(chunk)
        else:
            if self._size > MAX_FIELD_BYTES:
                raise PayloadTooLargeError(f"form field {self._name!r} is too large")
            self._value += chunk

    def _part_end(self) -> None:
        if self._in_file:
            content_type = self._headers.get("content-type", b"").decode("latin-1") or None
            spooled = SpooledFile(self._filename or "upload", content_type, self._size, self._hash.hexdigest(),
                                  index=len(self.form.files))
            if self._fh is not None:
                spooled.path = Path(self._fh.name)
                self._fh.close()
                self._fh = None
            else:
                spooled.data = bytes(self._buffer)
            self._in_file, self._buffer = False, bytearray()
            self.form.files.append(spooled)
            self.finished.append(spooled)
        elif self._name:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            Path(self._fh.name).unlink(missing_ok=True)
            self._fh = None


class _Stores:
    """The store callbacks in flight: at most ``limit``; the first failure stops the upload."""

    def __init__(self, store: StoreFile, limit: int) -> None:
        self._store, self._gate = store, asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def start(self, files: list[SpooledFile]) -> None:
        for spooled in files:
            self.raise_failure()
            await self._gate.acquire()
            task = asyncio.create_task(self._run(spooled))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, spooled: SpooledFile) -> None:
        try:
            await self._store(spooled)
            spooled.release()
        except BaseException as exc:
            if self._failure is None:
                self._failure = exc
            raise
        finally:
            self._gate.release()

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def finish(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.raise_failure()

    async def abandon(self, *, cancel: bool) -> None:
        """Stop: stores in flight finish (so their caller can clean up what they stored),
        unless the upload itself is being cancelled."""
        if cancel:
            for task in self._tasks:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def receive_upload(request: Request, *, store: StoreFile, file_field: str = "files", max_files: int,
                         max_file_bytes: int, max_pending: int = 8, on_first_file: FirstFile | None = None) -> UploadForm:
    """Read the whole form; every file has been through ``store`` (its ``ref`` set) when this
    returns. ``on_first_file`` is awaited once, with the fields received so far, when the first
    file part begins and before any file is stored. On any failure no further file is stored,
    the stores in flight finish, parts not stored are dropped and the error propagates: what
    ``store`` stored, its caller cleans up."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedMediaError("the body must be multipart/form-data")
    receiver = _Receiver(file_field=file_field, max_files=max_files, max_file_bytes=max_file_bytes)
    parser = _parser(params[b"boundary"], receiver)
    stores = _Stores(store, max_pending)
    try:
        async for chunk in request.stream():
            _write(parser, chunk)
            if on_first_file is not None and receiver.file_started:
                first, on_first_file = on_first_file, None
                await first(dict(receiver.form.fields))
            if receiver.finished:
                finished, receiver.finished = receiver.finished, []
                await stores.start(finished)
        _finish(parser)
        if on_first_file is not None and receiver.file_started:
            await on_first_file(dict(receiver.form.fields))
        await stores.start(receiver.finished)
        await stores.finish()
    except BaseException as exc:
        await stores.abandon(cancel=isinstance(exc, asyncio.CancelledError))
        receiver.abort()
        receiver.form.cleanup()
        raise
    return receiver.form


# What the parser found wrong, in words that echo nothing of the body.
_MALFORMED = "the body is not valid multipart/form-data"


def _parser(boundary: bytes, receiver: _Receiver) -> MultipartParser:
    if not boundary:
        raise InvalidInputError(f"{_MALFORMED}: the boundary is empty", details={"field": "boundary"})
    try:
        return MultipartParser(boundary, receiver.callbacks())
    except FormParserError:  # a boundary over 256 characters
        raise InvalidInputError(f"{_MALFORMED}: the boundary is too long", details={"field": "boundary"}) from None


def _write(parser: MultipartParser, chunk: bytes) -> None:
    try:
        parser.write(chunk)
    except FormParserError as exc:  # the receiver's own refusals are DomainErrors and pass through
        reason = ("a part has too many or too large headers" if str(exc).startswith("Maximum header")
                  else "it does not follow the boundary and part-header syntax")
        raise InvalidInputError(f"{_MALFORMED}: {reason}") from None


def _finish(parser: MultipartParser) -> None:
    parser.finalize()
    if parser.state != MultipartState.END:  # a form cut off before its closing boundary
        raise InvalidInputError(f"{_MALFORMED}: it ends before the closing boundary")
