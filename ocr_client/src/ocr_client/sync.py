"""``OcrClient``: the blocking client (``httpx.Client``). Every method builds its request in
:mod:`ocr_client._core`; this class only sends it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any, TypeVar

import httpx

from ocr_client import _core as core
from ocr_client._core import Call, FileInput, ImageInput, RetryPolicy, Sleep
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


class OcrClient:
    """A blocking client for the OCR Orchestrator HTTP API.

    ``retry`` applies to idempotent calls only (GETs, cancel, submits with an ``idempotency_key``):
    a :class:`RetryPolicy`, a number of retries, or ``None`` for none.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 60,
                 transport: httpx.BaseTransport | None = None, retry: RetryPolicy | int | None = core.DEFAULT_RETRY,
                 headers: Mapping[str, str] | None = None) -> None:
        self._timeout = timeout
        self._retry = core.retry_policy(retry)
        self._http = httpx.Client(base_url=base_url, headers=core.client_headers(api_key, headers),
                                  timeout=timeout, transport=transport)

    # ---------------------------------------------------------------- plumbing

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OcrClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        timeout = self._timeout + call.extra_timeout if call.extra_timeout else httpx.USE_CLIENT_DEFAULT
        while True:
            attempt += 1
            with ExitStack() as stack:
                try:
                    response = self._http.request(**call.request_kwargs(stack), timeout=timeout)
                except httpx.RequestError as exc:
                    retryable = isinstance(exc, httpx.TransportError)
                    delay = self._retry.delay(call, attempt, None) if retryable else None
                    if delay is None:
                        raise core.connection_error(exc, call) from exc
                else:
                    delay = self._retry.delay(call, attempt, response)
                    if delay is None:
                        return call.decode(response)
            time.sleep(delay)

    def _run(self, flow: core.Flow[T]) -> T:
        value: Any = None
        try:
            while True:
                step = flow.send(value)
                value = time.sleep(step.seconds) if isinstance(step, Sleep) else self._send(step)
        except StopIteration as stop:
            return stop.value

    def _pages(self, page_call: Callable[[str | None], Call[core.Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            page = self._send(page_call(cursor))
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    # ---------------------------------------------------------------- service

    def health(self) -> Health:
        return self._send(core.health())

    def ready(self) -> dict[str, Any]:
        """``{ok, components}`` — also when the service answers 503 (not ready)."""
        return self._send(core.ready())

    def me(self) -> Me:
        return self._send(core.me())

    def tasks(self) -> list[Task]:
        return self._send(core.tasks())

    # ---------------------------------------------------------------- extraction

    def extract(self, image: ImageInput | None, task_id: str, *, mime_type: str | None = None,
                request_id: str | None = None, image_ref: str | None = None,
                debug: Mapping[str, Any] | None = None) -> ExtractResult:
        """One image (bytes or a path) → the validated result. A model failure is a result with
        ``error`` set, not an exception."""
        return self._send(core.extract(image, task_id, mime_type=mime_type, request_id=request_id,
                                       image_ref=image_ref, debug=debug))

    def extract_async(self, image: ImageInput | None, task_id: str, *, mime_type: str | None = None,
                      request_id: str | None = None, image_ref: str | None = None,
                      debug: Mapping[str, Any] | None = None, idempotency_key: str | None = None) -> Job:
        return self._send(core.extract_async(image, task_id, mime_type=mime_type, request_id=request_id,
                                             image_ref=image_ref, debug=debug, idempotency_key=idempotency_key))

    # ---------------------------------------------------------------- batches

    def batch_upload(self, files: Iterable[FileInput], task_id: str, *, concurrency: int = 4,
                     run_id: str | None = None, limit: int | None = None, gt_id: str | None = None,
                     idempotency_key: str | None = None) -> Job:
        """Upload files (paths, streamed from disk, or ``(name, bytes)``) as a batch job."""
        return self._send(core.batch_upload(files, task_id, concurrency=concurrency, run_id=run_id, limit=limit,
                                            gt_id=gt_id, idempotency_key=idempotency_key))

    def batch_upload_sync(self, files: Iterable[FileInput], task_id: str, *, concurrency: int = 4,
                          run_id: str | None = None, limit: int | None = None, gt_id: str | None = None,
                          persist_inputs: bool | None = None) -> BatchResult:
        return self._send(core.batch_upload_sync(files, task_id, concurrency=concurrency, run_id=run_id,
                                                 limit=limit, gt_id=gt_id, persist_inputs=persist_inputs))

    def batch_dir(self, images_dir: str, task_id: str, *, glob: str = "**/*", concurrency: int = 4,
                  run_id: str | None = None, limit: int | None = None, gt_id: str | None = None,
                  idempotency_key: str | None = None) -> Job:
        """A batch over a folder on the server (relative to its ``DATA_ROOT``), as a job."""
        return self._send(core.batch_dir(images_dir, task_id, glob=glob, concurrency=concurrency, run_id=run_id,
                                         limit=limit, gt_id=gt_id, idempotency_key=idempotency_key))

    def batch_dir_sync(self, images_dir: str, task_id: str, *, glob: str = "**/*", concurrency: int = 4,
                       run_id: str | None = None, limit: int | None = None,
                       gt_id: str | None = None) -> BatchResult:
        return self._send(core.batch_dir_sync(images_dir, task_id, glob=glob, concurrency=concurrency,
                                              run_id=run_id, limit=limit, gt_id=gt_id))

    def rerun(self, run_id: str, task_id: str, *, batch_date: str | None = None, max_days: int | None = None,
              concurrency: int = 4, new_run_id: str | None = None, limit: int | None = None,
              gt_id: str | None = None, idempotency_key: str | None = None, only_failed: bool = False,
              error_codes: list[str] | None = None) -> Job:
        """Re-run a stored run from its stored inputs (the task may differ), as a job; with
        ``only_failed`` (or ``error_codes``) only its failures, keeping the other results."""
        return self._send(core.rerun(run_id, task_id, batch_date=batch_date, max_days=max_days,
                                     concurrency=concurrency, new_run_id=new_run_id, limit=limit, gt_id=gt_id,
                                     idempotency_key=idempotency_key, only_failed=only_failed,
                                     error_codes=error_codes))

    def rerun_sync(self, run_id: str, task_id: str, *, batch_date: str | None = None, max_days: int | None = None,
                   concurrency: int = 4, new_run_id: str | None = None, limit: int | None = None,
                   gt_id: str | None = None, only_failed: bool = False,
                   error_codes: list[str] | None = None) -> BatchResult:
        return self._send(core.rerun_sync(run_id, task_id, batch_date=batch_date, max_days=max_days,
                                          concurrency=concurrency, new_run_id=new_run_id, limit=limit, gt_id=gt_id,
                                          only_failed=only_failed, error_codes=error_codes))

    # ---------------------------------------------------------------- jobs

    def job(self, job_id: str, *, wait: float | None = None) -> Job:
        """The job's state; ``wait`` (≤30 s) long-polls until its status changes."""
        return self._send(core.job(job_id, wait=wait))

    def wait_for(self, job_id: str, *, timeout: float = 600, poll_wait: float = 10) -> Job:
        """Long-poll until the job is terminal; raises :class:`JobWaitTimeout` after ``timeout``."""
        return self._run(core.wait_for(job_id, timeout=timeout, poll_wait=poll_wait))

    def result(self, job_id: str) -> dict[str, Any]:
        """The finished job's full result (``ConflictError`` while it runs)."""
        return self._send(core.result(job_id))

    def extract_result(self, job_id: str) -> ExtractResult:
        return self._send(core.result(job_id, ExtractResult))

    def batch_result(self, job_id: str) -> BatchResult:
        return self._send(core.result(job_id, BatchResult))

    def cancel(self, job_id: str) -> Job:
        return self._send(core.cancel(job_id))

    def jobs(self, status: str | None = None, limit: int = 50) -> Iterator[Job]:
        """Every job of the caller (admin: all), newest first; ``limit`` is the page size."""
        return self._pages(lambda cursor: core.jobs_page(status, limit, cursor))

    # ---------------------------------------------------------------- runs

    def runs(self, limit: int = 50) -> Iterator[RunSummary]:
        """Every batch run of the caller, newest first; ``limit`` is the page size."""
        return self._pages(lambda cursor: core.runs_page(limit, cursor))

    def run(self, run_id: str) -> BatchResult:
        return self._send(core.run(run_id))

    def run_item(self, request_id: str) -> dict[str, Any]:
        """The stored extract artifact (``raw`` only for ``debug:read_raw``)."""
        return self._send(core.run_item(request_id))

    # ---------------------------------------------------------------- site analysis

    def analyze(self, text_par: str, *, request_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """``POST /v1/analyze/json``; ``fields`` are the optional request fields (``pars_id``,
        ``company_name``, ``okved``, ``goods_catalog``, ``equipment_catalog``, …)."""
        return self._send(core.analyze(text_par, request_id=request_id, **fields))

    def billing_remaining(self, project_id: str | None = None) -> BillingSummary:
        return self._send(core.billing_remaining(project_id))

