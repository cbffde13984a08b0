"""Everything the sync and async clients share: request building, response decoding, retry
decisions and multi-step flows, all free of I/O.

An operation is a :class:`Call` (one HTTP request plus how to decode its answer) or a *flow*:
a generator that yields ``Call`` / :class:`Sleep` steps and receives each call's decoded
value, returning the final value. ``OcrClient`` and ``AsyncOcrClient`` only *drive* these —
one with ``httpx.Client`` and ``time.sleep``, the other with ``httpx.AsyncClient`` and
``asyncio.sleep`` — so the protocol lives in one place.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import random
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, TypeAlias, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from ocr_client.errors import JobWaitTimeout, OcrConnectionError, OcrError, error_from_response
from ocr_client.models import (
    BatchResult,
    BillingSummary,
    ExtractResult,
    Health,
    Job,
    Me,
    RunSummary,
    Task,
)

T = TypeVar("T")

ImageInput: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str]"
FileInput: TypeAlias = "str | os.PathLike[str] | tuple[str, bytes]"

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
MAX_WAIT_S = 30.0  # the server's cap on ?wait=
USER_AGENT = "ocr-client/0.1"


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass
class Call(Generic[T]):
    """One HTTP request and the decoder of its answer."""

    method: str
    path: str
    decode: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    files: list[tuple[str, FileInput]] | None = None  # (form field, source); opened per attempt
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool = False  # safe to retry (GETs; POSTs with an Idempotency-Key)
    extra_timeout: float = 0.0  # added to the client's timeout (long-polls)

    def request_kwargs(self, stack: ExitStack) -> dict[str, Any]:
        """Arguments for ``httpx.Client.request``; files are opened in ``stack`` (streamed)."""
        kwargs: dict[str, Any] = {"method": self.method, "url": self.path, "headers": self.headers}
        if self.params:
            kwargs["params"] = {k: v for k, v in self.params.items() if v is not None}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.data is not None:
            kwargs["data"] = self.data
        if self.files is not None:
            kwargs["files"] = [(name, open_file(src, stack)) for name, src in self.files]
        return kwargs


Step: TypeAlias = "Call[Any] | Sleep"
Flow: TypeAlias = "Generator[Step, Any, T]"
Operation: TypeAlias = "Call[T] | Generator[Step, Any, T]"


# --------------------------------------------------------------------------- decoding


def check(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        raise error_from_response(response)
    return response


def decoder(type_: type[T] | Any) -> Callable[[httpx.Response], T]:
    """Raise the typed error for a non-2xx answer, else decode the JSON body as ``type_``."""

    def decode(response: httpx.Response) -> T:
        check(response)
        try:
            return msgspec.json.decode(response.content, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise OcrError(f"unexpected response body: {exc}", status=response.status_code,
                           code="invalid_response", request_id=response.headers.get("x-request-id")) from exc

    return decode


def _accepted(response: httpx.Response) -> Job:
    job = decoder(Job)(response)
    if job.poll_url is None and "location" in response.headers:
        job.poll_url = response.headers["location"]
    return job


def _ready(response: httpx.Response) -> dict[str, Any]:
    if response.status_code == 503:  # not ready is an answer, not an error
        try:
            return msgspec.json.decode(response.content, type=dict[str, Any])
        except msgspec.DecodeError:
            pass
    return decoder(dict[str, Any])(response)


def _items(type_: Any) -> Callable[[httpx.Response], Any]:
    page = decoder(Page[type_])
    return lambda response: page(response).items


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


JSONDict = dict[str, Any]


# --------------------------------------------------------------------------- inputs


def sniff_mime(data: bytes) -> str | None:
    """The image type from magic bytes, or ``None``."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM":
        return "image/bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def mime_from_name(name: str) -> str | None:
    guessed, _ = mimetypes.guess_type(name)
    return guessed if guessed and guessed.startswith("image/") else None


def read_image(image: ImageInput) -> tuple[bytes, str | None]:
    """Bytes and a file name (for the extension) from bytes or a path."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image), None
    path = Path(image)
    return path.read_bytes(), path.name


def open_file(source: FileInput, stack: ExitStack) -> tuple[str, IO[bytes] | bytes, str]:
    """``(filename, content, content_type)`` for one multipart file; paths are opened (streamed)."""
    if isinstance(source, tuple):
        name, content = source
        return name, content, sniff_mime(content[:16]) or mime_from_name(name) or "application/octet-stream"
    path = Path(source)
    handle = stack.enter_context(path.open("rb"))
    head = handle.read(16)
    handle.seek(0)
    return path.name, handle, sniff_mime(head) or mime_from_name(path.name) or "application/octet-stream"


def image_files(directory: str | os.PathLike[str], pattern: str = "**/*") -> list[Path]:
    """The image files under a local directory, sorted by path (as the server orders a folder)."""
    root = Path(directory)
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _clean(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _idem(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def _form(fields: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in fields.items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


# --------------------------------------------------------------------------- operations


def health() -> Call[Health]:
    return Call("GET", "/v1/health", decoder(Health), idempotent=True)


def ready() -> Call[JSONDict]:
    return Call("GET", "/v1/ready", _ready)


def me() -> Call[Me]:
    return Call("GET", "/v1/me", decoder(Me), idempotent=True)


def tasks() -> Call[list[Task]]:
    return Call("GET", "/v1/tasks", _items(Task), idempotent=True)


def extract_body(image: ImageInput | None, task_id: str, mime_type: str | None, request_id: str | None,
                 image_ref: str | None, debug: Mapping[str, Any] | None) -> dict[str, Any]:
    if (image is None) == (image_ref is None):
        raise ValueError("give exactly one of image or image_ref")
    body: dict[str, Any] = {"task_id": task_id, "request_id": request_id, "debug": debug}
    if image is not None:
        data, name = read_image(image)
        body["image_base64"] = base64.b64encode(data).decode("ascii")
        body["mime_type"] = mime_type or sniff_mime(data[:16]) or (mime_from_name(name) if name else None)
    else:
        body["image_ref"] = image_ref
        body["mime_type"] = mime_type or (mime_from_name(image_ref) if image_ref else None)
    return _clean(body)


def extract(image: ImageInput | None, task_id: str, *, mime_type: str | None = None, request_id: str | None = None,
            image_ref: str | None = None, debug: Mapping[str, Any] | None = None) -> Call[ExtractResult]:
    body = extract_body(image, task_id, mime_type, request_id, image_ref, debug)
    return Call("POST", "/v1/extract", decoder(ExtractResult), json=body)


def extract_async(image: ImageInput | None, task_id: str, *, mime_type: str | None = None,
                  request_id: str | None = None, image_ref: str | None = None,
                  debug: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> Call[Job]:
    body = extract_body(image, task_id, mime_type, request_id, image_ref, debug)
    return Call("POST", "/v1/extract_async", _accepted, json=body, headers=_idem(idempotency_key),
                idempotent=bool(idempotency_key))


def _upload(path: str, decode: Callable[[httpx.Response], T], files: Iterable[FileInput], task_id: str,
            idempotency_key: str | None, **fields: Any) -> Call[T]:
    sources = [("files", f if isinstance(f, tuple) else os.fspath(f)) for f in files]
    if not sources:
        raise ValueError("batch_upload needs at least one file")
    return Call("POST", path, decode, data=_form({"task_id": task_id, **fields}), files=sources,
                headers=_idem(idempotency_key), idempotent=bool(idempotency_key))


def batch_upload(files: Iterable[FileInput], task_id: str, *, concurrency: int = 4, run_id: str | None = None,
                 limit: int | None = None, gt_id: str | None = None,
                 idempotency_key: str | None = None) -> Call[Job]:
    return _upload("/v1/batch_extract_upload_async", _accepted, files, task_id, idempotency_key,
                   concurrency=concurrency, run_id=run_id, limit=limit, gt_id=gt_id)


def batch_upload_sync(files: Iterable[FileInput], task_id: str, *, concurrency: int = 4, run_id: str | None = None,
                      limit: int | None = None, gt_id: str | None = None,
                      persist_inputs: bool | None = None) -> Call[BatchResult]:
    return _upload("/v1/batch_extract_upload", decoder(BatchResult), files, task_id, None, concurrency=concurrency,
                   run_id=run_id, limit=limit, gt_id=gt_id, persist_inputs=persist_inputs)


def _dir_body(images_dir: str, task_id: str, glob: str, concurrency: int, run_id: str | None, limit: int | None,
              gt_id: str | None) -> dict[str, Any]:
    return _clean({"task_id": task_id, "images_dir": images_dir, "glob": glob, "concurrency": concurrency,
                   "run_id": run_id, "limit": limit, "gt_id": gt_id})


def batch_dir(images_dir: str, task_id: str, *, glob: str = "**/*", concurrency: int = 4, run_id: str | None = None,
              limit: int | None = None, gt_id: str | None = None, idempotency_key: str | None = None) -> Call[Job]:
    body = _dir_body(images_dir, task_id, glob, concurrency, run_id, limit, gt_id)
    return Call("POST", "/v1/batch_extract_async", _accepted, json=body, headers=_idem(idempotency_key),
                idempotent=bool(idempotency_key))


def batch_dir_sync(images_dir: str, task_id: str, *, glob: str = "**/*", concurrency: int = 4,
                   run_id: str | None = None, limit: int | None = None,
                   gt_id: str | None = None) -> Call[BatchResult]:
    body = _dir_body(images_dir, task_id, glob, concurrency, run_id, limit, gt_id)
    return Call("POST", "/v1/batch_extract", decoder(BatchResult), json=body)


def _rerun_body(run_id: str, task_id: str, batch_date: str | None, max_days: int | None, concurrency: int,
                new_run_id: str | None, limit: int | None, gt_id: str | None, only_failed: bool = False,
                error_codes: list[str] | None = None) -> dict[str, Any]:
    return _clean({"task_id": task_id, "run_id": run_id, "batch_date": batch_date, "max_days": max_days,
                   "concurrency": concurrency, "new_run_id": new_run_id, "limit": limit, "gt_id": gt_id,
                   "only_failed": only_failed or None, "error_codes": error_codes})


def rerun(run_id: str, task_id: str, *, batch_date: str | None = None, max_days: int | None = None,
          concurrency: int = 4, new_run_id: str | None = None, limit: int | None = None, gt_id: str | None = None,
          idempotency_key: str | None = None, only_failed: bool = False,
          error_codes: list[str] | None = None) -> Call[Job]:
    body = _rerun_body(run_id, task_id, batch_date, max_days, concurrency, new_run_id, limit, gt_id, only_failed,
                       error_codes)
    return Call("POST", "/v1/batch_extract_rerun_async", _accepted, json=body, headers=_idem(idempotency_key),
                idempotent=bool(idempotency_key))


def rerun_sync(run_id: str, task_id: str, *, batch_date: str | None = None, max_days: int | None = None,
               concurrency: int = 4, new_run_id: str | None = None, limit: int | None = None,
               gt_id: str | None = None, only_failed: bool = False,
               error_codes: list[str] | None = None) -> Call[BatchResult]:
    body = _rerun_body(run_id, task_id, batch_date, max_days, concurrency, new_run_id, limit, gt_id, only_failed,
                       error_codes)
    return Call("POST", "/v1/batch_extract_rerun", decoder(BatchResult), json=body)


def job(job_id: str, *, wait: float | None = None) -> Call[Job]:
    params = None
    if wait:
        wait = min(float(wait), MAX_WAIT_S)
        params = {"wait": f"{wait:g}"}
    return Call("GET", f"/v1/jobs/{_seg(job_id)}", decoder(Job), params=params, idempotent=True,
                extra_timeout=wait or 0.0)


def result(job_id: str, type_: Any = JSONDict) -> Call[Any]:
    return Call("GET", f"/v1/jobs/{_seg(job_id)}/result", decoder(type_), idempotent=True)


def cancel(job_id: str) -> Call[Job]:
    return Call("POST", f"/v1/jobs/{_seg(job_id)}/cancel", decoder(Job), idempotent=True)  # cancel is idempotent


def jobs_page(status: str | None, limit: int, cursor: str | None) -> Call[Page[Job]]:
    return Call("GET", "/v1/jobs", decoder(Page[Job]), params={"status": status, "limit": limit, "cursor": cursor},
                idempotent=True)


def runs_page(limit: int, cursor: str | None) -> Call[Page[RunSummary]]:
    return Call("GET", "/v1/runs", decoder(Page[RunSummary]), params={"limit": limit, "cursor": cursor},
                idempotent=True)


def run(run_id: str) -> Call[BatchResult]:
    return Call("GET", f"/v1/runs/{_seg(run_id)}", decoder(BatchResult), idempotent=True)


def run_item(request_id: str) -> Call[JSONDict]:
    return Call("GET", f"/v1/runs/item/{_seg(request_id)}", decoder(JSONDict), idempotent=True)


def analyze(text_par: str, *, request_id: str | None = None, **fields: Any) -> Call[JSONDict]:
    body = {"text_par": text_par, **_clean(fields)}
    headers = {"X-Request-ID": request_id} if request_id else {}
    return Call("POST", "/v1/analyze/json", decoder(JSONDict), json=body, headers=headers)


def billing_remaining(project_id: str | None = None) -> Call[BillingSummary]:
    return Call("GET", "/v1/billing/remaining", decoder(BillingSummary), params={"project_id": project_id},
                idempotent=True)


# --------------------------------------------------------------------------- flows


def wait_for(job_id: str, *, timeout: float = 600, poll_wait: float = 10,
             clock: Callable[[], float] = time.monotonic) -> Flow[Job]:
    """Long-poll ``GET /v1/jobs/{id}?wait=`` until the job is terminal or ``timeout`` passes."""
    deadline = clock() + timeout
    current: Job = yield job(job_id)
    while not current.done:
        remaining = deadline - clock()
        if remaining <= 0:
            raise JobWaitTimeout(f"job {job_id} still {current.status} after {timeout:g} s", job=current)
        wait = max(0.5, min(poll_wait, MAX_WAIT_S, remaining))
        started = clock()
        current = yield job(job_id, wait=wait)
        if not current.done and clock() - started < 0.1:  # a server that does not long-poll: do not spin
            yield Sleep(min(0.5, max(0.0, deadline - clock())))
    return current


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for idempotent calls (GETs, cancels, POSTs carrying an Idempotency-Key) on
    the given statuses and on connection errors. ``attempts`` counts the first try; 1 disables."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    statuses: frozenset[int] = frozenset({503, 504})

    def delay(self, call: Call[Any], attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to stop (``response`` is ``None``
        after a connection error)."""
        if not call.idempotent or attempt >= self.attempts:
            return None
        if response is not None and response.status_code not in self.statuses:
            return None
        wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        wait = wait / 2 + random.uniform(0, wait / 2)
        if response is not None:
            hinted = _retry_after(response.headers.get("retry-after"))
            if hinted is not None:
                wait = min(self.max_backoff, hinted)
        return wait


NO_RETRY = RetryPolicy(attempts=1)
DEFAULT_RETRY = RetryPolicy()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def connection_error(exc: httpx.RequestError, call: Call[Any]) -> OcrConnectionError:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    return OcrConnectionError(f"{call.method} {call.path}: {type(exc).__name__}: {exc}", code=kind)


def retry_policy(retry: RetryPolicy | int | None) -> RetryPolicy:
    if retry is None:
        return NO_RETRY
    if isinstance(retry, int):
        return RetryPolicy(attempts=max(1, retry + 1))
    return retry


def client_headers(api_key: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    out.update(headers or {})
    return out
