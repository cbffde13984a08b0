"""Reading a batch upload form and turning its files into stored inputs and a plan."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
from litestar import Request

from application.batch_plans import BatchPlanner
from application.batch_types import BatchItemInput, BatchPlan
from application.inputs import InputStore, ext_for
from application.live_uploads import LiveUpload, LiveUploads
from domain.auth import Principal
from domain.errors import DomainError, ValidationFailedError
from domain.ids import is_valid_id
from domain.jobs import Job
from domain.receipts.image_input import SNIFF_BYTES, sniff_image
from entrypoints.http.multipart import SpooledFile, UploadForm, receive_upload

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


NOT_AN_IMAGE = {"code": "unsupported_media_type", "retryable": False, "details": {},
                "message": "not a JPEG, PNG, WebP, GIF, BMP or TIFF image: not stored"}


@dataclass
class BatchUpload:
    task_id: str
    concurrency: int
    run_id: str | None
    limit: int | None
    persist_inputs: bool
    gt_id: str | None = None
    form: UploadForm = field(default_factory=UploadForm)

    @property
    def files(self) -> list[SpooledFile]:
        return self.form.files[: self.limit] if self.limit else self.form.files

    def digest(self) -> str:
        """Idempotency fingerprint: the fields and every file's name and content hash."""
        h = hashlib.sha256(
            f"{self.task_id}|{self.concurrency}|{self.run_id}|{self.limit}|{self.persist_inputs}|{self.gt_id}".encode())
        for f in self.form.files:
            h.update(f"|{f.filename}:{f.sha256}".encode())
        return h.hexdigest()


def _int_field(fields: dict[str, str], name: str, default: int | None, low: int, high: int,
               errors: list[dict[str, str]]) -> int | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.append({"path": f"$.{name}", "message": "Expected an integer"})
        return default
    if not low <= value <= high:
        errors.append({"path": f"$.{name}", "message": f"Expected an integer from {low} to {high}"})
    return value


class EarlyStart:
    """Starts an async upload batch at its first file (ADR 0051), when the fields before it are
    complete and valid; otherwise, or where jobs run elsewhere, the upload takes the ordinary
    path (the whole body first). Stored files become items of the started job at once."""

    def __init__(self, live_uploads: LiveUploads, *, planner: BatchPlanner, principal: Principal,
                 idempotency_key: str | None, check_ground_truth: Callable[[str], Awaitable[object]]) -> None:
        self._live_uploads = live_uploads
        self._planner = planner
        self._principal = principal
        self._key = idempotency_key
        self._check_ground_truth = check_ground_truth
        self.live: LiveUpload | None = None
        self.fields: dict[str, str] = {}  # the fields it started with
        self._limit: int | None = None

    async def begin(self, fields: dict[str, str]) -> None:
        try:
            upload = _validated(fields, has_files=True)
            head = await self._planner.upload_head(task_id=upload.task_id, concurrency=upload.concurrency,
                                                   run_id=upload.run_id)
            if upload.gt_id is not None:
                await self._check_ground_truth(upload.gt_id)
                head = msgspec.structs.replace(head, gt_id=upload.gt_id)
        except DomainError:
            return  # reported, as without an early start, once the body is read
        self.live = await self._live_uploads.open(head, self._principal, idempotency_key=self._key)
        self.fields, self._limit = fields, upload.limit

    def stored(self, f: SpooledFile) -> None:
        if self.live is not None and (self._limit is None or f.index < self._limit):
            self.live.feed.put(f.index, BatchItemInput(file=f.filename, input_ref=f.ref, error=f.error))

    async def settle(self, plan: BatchPlan, fingerprint: str) -> Job:
        assert self.live is not None
        job = await self._live_uploads.settle(self.live, plan, fingerprint)
        self.live = None
        return job

    async def refused(self, exc: BaseException, created: list[str]) -> None:
        """The upload failed after the job started: stop it, keep what its items use, and tell
        the caller which job ran part of it."""
        assert self.live is not None
        if isinstance(exc, DomainError):
            failure = {"code": exc.code, "message": exc.message, "retryable": False}
            exc.details.setdefault("job_id", self.live.job_id)
        else:
            failure = {"code": "upload_incomplete", "message": "the upload did not complete", "retryable": True}
        await self._live_uploads.abandon(self.live, failure, discard=created)
        self.live = None


async def read_upload(request: Request, principal: Principal, inputs: InputStore,
                      early: EarlyStart | None = None) -> BatchUpload:
    """Receive the form, storing each file as an owner-scoped input while the rest arrives.
    A refused upload (limits, bad fields, a storage failure) leaves none of the inputs it
    created behind, except those items of an early-started job already use."""
    settings = request.app.state.services.settings
    created: list[str] = []

    async def store(f: SpooledFile) -> None:
        if sniff_image(f.head(SNIFF_BYTES)) is None:  # no image at all: never stored (issue 12)
            f.error = dict(NOT_AN_IMAGE)
            if early is not None:
                early.stored(f)
            return
        ext = ext_for(f.filename, f.content_type)
        if f.data is not None:
            f.ref, f.created = await inputs.put_new(principal.key_id, f.sha256, ext, f.data)
        else:
            f.ref, f.created = await inputs.put_stream(principal.key_id, f.sha256, ext, f.chunks(), f.size)
        if f.created:
            created.append(f.ref)
        if early is not None:
            early.stored(f)

    form: UploadForm | None = None
    try:
        form = await receive_upload(request, store=store, max_files=settings.max_batch_files,
                                    max_file_bytes=settings.max_image_bytes,
                                    on_first_file=early.begin if early is not None else None)
        upload = _validated(form.fields, has_files=bool(form.files))
        upload.form = form
        return upload
    except BaseException as exc:
        if form is not None:
            form.cleanup()
        if early is not None and early.live is not None:
            await early.refused(exc, created)
        else:
            await inputs.discard(created)
        raise


def _validated(fields: dict[str, str], *, has_files: bool) -> BatchUpload:
    errors: list[dict[str, str]] = []
    task_id = fields.get("task_id", "").strip()
    if not task_id:
        errors.append({"path": "$.task_id", "message": "Object missing required field `task_id`"})
    if not has_files:
        errors.append({"path": "$.files", "message": "at least one file is required"})
    # An empty id field is an absent one (as a form sends it); any other value is the id itself.
    run_id = fields.get("run_id") or None
    if run_id is not None and not is_valid_id(run_id):
        errors.append({"path": "$.run_id", "message": "Expected `str` matching the id pattern"})
    gt_id = fields.get("gt_id") or None
    if gt_id is not None and not is_valid_id(gt_id):
        errors.append({"path": "$.gt_id", "message": "Expected `str` matching the id pattern"})
    persist_raw = fields.get("persist_inputs", "").lower()
    if persist_raw and persist_raw not in _TRUE | _FALSE:
        errors.append({"path": "$.persist_inputs", "message": "Expected a boolean"})
    concurrency = _int_field(fields, "concurrency", 4, 1, 64, errors)
    limit = _int_field(fields, "limit", None, 1, 100_000, errors)
    if errors:
        raise ValidationFailedError("the upload form failed validation", details={"errors": errors})
    return BatchUpload(task_id=task_id, concurrency=concurrency or 4, run_id=run_id, limit=limit,
                       persist_inputs=persist_raw not in _FALSE, gt_id=gt_id)


async def plan_upload(upload: BatchUpload, planner: BatchPlanner, inputs: InputStore, *,
                      allow_ephemeral: bool, run_id: str | None = None) -> BatchPlan:
    """The plan over the (already stored) files; inputs created for files past ``limit`` are
    dropped again, and so are all created ones when the batch keeps no inputs. ``run_id``:
    the id an early-started job already runs under."""
    run_id = run_id or await planner.new_run_id(upload.run_id)
    ephemeral = allow_ephemeral and not upload.persist_inputs
    chosen = upload.files
    # Files are stored concurrently, so the copy that created a ref may be a duplicate past
    # the limit: decide per ref, not per file.
    chosen_refs = {f.ref for f in chosen}
    created = {f.ref for f in upload.form.files if f.created and f.ref}
    await inputs.discard(sorted(created - chosen_refs))
    stored = [(f.filename, f.ref or "") for f in chosen]
    refused = {i: f.error for i, f in enumerate(chosen) if f.error is not None}
    created_now = sorted(created & chosen_refs)
    return await planner.from_uploads(task_id=upload.task_id, uploads=stored, refused=refused,
                                      concurrency=upload.concurrency,
                                      run_id=run_id, limit=None, persist_inputs=not ephemeral,
                                      ephemeral_refs=created_now if ephemeral else None, checked=True)
