"""Use case: one image in, a validated JSON object out, an artifact stored (SPEC §6.2).

Model failures are results, not exceptions: the caller gets ``error`` set and the
artifact is written all the same. Exceptions are for bad input (4xx) and storage.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from application.extract_artifact import build_artifact, result_from_artifact, same_input
from application.extract_types import DebugOverrides, ExtractCommand, ExtractFailure, ExtractResult
from application.inputs import InputStore, ext_for
from application.outages import OutageGuard
from application.ports.artifact_index import PENDING, ArtifactIndex, IndexEntry
from application.ports.blobs import BlobStore
from application.ports.images import ImageProbe
from application.ports.inference import InferenceClient, InferenceFailure, InferenceRequest
from application.request_claims import Held, Io, RequestClaims, direct
from domain.artifacts import ArtifactKind, artifact_rel
from domain.auth import Principal, Scope, require_scopes
from domain.errors import (
    ArtifactExistsError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    StorageUnavailableError,
)
from domain.ids import check_id, day_of, utc_now
from domain.receipts.checks import run_checks
from domain.receipts.errors import InvalidModelOutputError
from domain.receipts.image_input import check_mime_type, decode_base64_image
from domain.receipts.json_text import extract_json_object
from domain.receipts.tasks import Task, TaskRegistry
from domain.receipts.validation import check_schema, validate_output

logger = logging.getLogger("ocr.extract")


class ExtractConfig(msgspec.Struct, frozen=True, kw_only=True):
    max_image_bytes: int
    temperature: float
    max_tokens: int
    max_tokens_limit: int
    debug_mode: bool


class Extractor:
    def __init__(
        self,
        *,
        tasks: TaskRegistry,
        inference: InferenceClient,
        blobs: BlobStore,
        index: ArtifactIndex,
        images: ImageProbe,
        inputs: InputStore,
        config: ExtractConfig,
        claims: RequestClaims | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._claims = claims or RequestClaims(index=index, blobs=blobs, clock=clock)
        self._tasks = tasks
        self._inference = inference
        self._blobs = blobs
        self._index = index
        self._images = images
        self._inputs = inputs
        self._config = config
        self._clock = clock

    async def run(self, cmd: ExtractCommand, principal: Principal, *, guard: OutageGuard | None = None) -> ExtractResult:
        """Extract one image. With a ``guard`` (batch items), storage and model-server outages
        are waited out (ADR 0053); without one, a storage failure is a retryable 503."""
        started = time.perf_counter()
        io: Io[Any] = guard.storage if guard is not None else direct
        task = self._tasks.get(cmd.task_id)
        request_id = check_id(cmd.request_id, "request_id")
        task, temperature, max_tokens = self._apply_debug(task, cmd.debug, principal)
        check_mime_type(cmd.mime_type)
        image, input_info = await self._load_image(cmd, principal, io)
        input_info["sha256"] = hashlib.sha256(image).hexdigest()
        if not cmd.owned:  # bad input is a 4xx before anything is claimed
            info = await self._images.inspect(image)
        async with self._claims.single_flight(ArtifactKind.EXTRACT, request_id):
            created_at = self._clock()
            claim = IndexEntry(kind=ArtifactKind.EXTRACT, artifact_id=request_id, owner_key_id=principal.key_id,
                               day=day_of(created_at), rel_ref=artifact_rel(ArtifactKind.EXTRACT, request_id, created_at),
                               created_at=created_at, state=PENDING)
            held = await self._claims.acquire(claim, principal, owned=cmd.owned, io=io)
            if held.written:
                return await self._written(held, cmd, input_info["sha256"], io)
            if cmd.owned:  # a resumed item reused above without decoding its image again
                try:
                    info = await self._images.inspect(image)
                except BaseException:
                    await self._claims.release(ArtifactKind.EXTRACT, request_id)
                    raise
            call = InferenceRequest(
                request_id=request_id, image=image, mime_type=info.mime_type, prompt=task.prompt,
                schema_name=task.schema_name, json_schema=task.json_schema,
                temperature=temperature, max_tokens=max_tokens, source_name=cmd.source_name,
            )
            written = False
            try:
                async with self._claims.keep_fresh(ArtifactKind.EXTRACT, request_id):
                    result, artifact = await self._call(call, task, held, input_info, principal, guard, started,
                                                        temperature=temperature, max_tokens=max_tokens)
                    result = await self._write(result, msgspec.json.encode(artifact), principal, io)
                    written = True
                    await self._complete(request_id, cmd.owned, io)
            except BaseException:
                if not written:  # nothing stored: the id is free again (else a retry repairs it)
                    await self._claims.release(ArtifactKind.EXTRACT, request_id)
                raise
        logger.info("extract finished", extra={
            "event": "extract_end", "task_id": task.task_id, "ok": result.error is None,
            "error_code": result.error.code if result.error else None, "duration_ms": result.timings_ms["total"],
        })
        return result

    async def _call(self, call: InferenceRequest, task: Task, held: Held, input_info: dict[str, Any],
                    principal: Principal, guard: OutageGuard | None, started: float, *, temperature: float,
                    max_tokens: int) -> tuple[ExtractResult, dict[str, Any]]:
        """The model call (waiting out a model-server outage with a guard) and the result."""
        inference_started = time.perf_counter()
        if guard is not None:
            outcome = await guard.model(lambda: self._inference.complete(call))
        else:
            outcome = await self._inference.complete(call)
        inference_ms = int((time.perf_counter() - inference_started) * 1000)
        parse_started = time.perf_counter()
        parsed, schema_errors, checks, error = _interpret(task, outcome.text, outcome.failure)
        parse_ms = int((time.perf_counter() - parse_started) * 1000)
        result = ExtractResult(
            request_id=call.request_id, created_at=held.entry.created_at, task_id=task.task_id,
            artifact_rel=held.entry.rel_ref, model_id=outcome.model_id, prompt_sha256=task.prompt_sha256,
            schema_sha256=task.schema_sha256,
            timings_ms={"inference": inference_ms, "parse_validate": parse_ms,
                        "total": int((time.perf_counter() - started) * 1000)},
            parsed=parsed, schema_valid=parsed is not None, schema_errors=schema_errors, checks=checks,
            error=error,
            error_history=[msgspec.structs.asdict(a) for a in outcome.error_history] or None,
            meta={"attempts": outcome.attempts, "resize_scale": outcome.resize_scale,
                  "max_tokens_effective": outcome.max_tokens_effective or max_tokens},
            raw=outcome.text, input_ref=input_info.get("input_ref") or input_info.get("image_ref"),
        )
        return result, build_artifact(result, principal, input_info, temperature=temperature, max_tokens=max_tokens)

    async def stored(self, request_id: str, principal: Principal, *, io: Io[Any] = direct) -> ExtractResult | None:
        """The result stored under ``request_id`` for this owner (completing a write whose index
        update failed), or None when nothing was stored under it."""
        held = await io(lambda: self._index.get(ArtifactKind.EXTRACT, request_id))
        if held is None or held.owner_key_id != principal.key_id:
            return None
        try:
            data = await io(lambda: self._blobs.get(held.rel_ref))
        except NotFoundError:
            return None
        if held.pending:
            await io(lambda: self._index.complete(ArtifactKind.EXTRACT, request_id))
        return result_from_artifact(msgspec.json.decode(data))

    async def _complete(self, request_id: str, owned: bool, io: Io[Any]) -> None:
        """The last step. When it cannot be written, a sync caller gets the retryable 503 (its
        retry repairs it); a batch item or job keeps its result — the artifact is stored and is
        served as it is, and the next owned or same-input call completes the entry."""
        try:
            await io(lambda: self._index.complete(ArtifactKind.EXTRACT, request_id))
        except StorageUnavailableError as exc:
            if not owned:
                raise
            logger.warning("index completion deferred", extra={
                "event": "index_completion_deferred", "request_id": request_id, "error": exc.code})

    async def _write(self, result: ExtractResult, data: bytes, principal: Principal, io: Io[Any]) -> ExtractResult:
        """Store the artifact, never over another: if a holder that took this id over (or an
        earlier attempt whose answer was lost) stored it first, that artifact is the result."""
        try:
            await io(lambda: self._blobs.put(result.artifact_rel, data))
        except ArtifactExistsError:
            stored = msgspec.json.decode(await io(lambda: self._blobs.get(result.artifact_rel)))
            if (stored.get("auth") or {}).get("key_id") != principal.key_id or stored.get("request_id") != result.request_id:
                raise
            return result_from_artifact(stored)
        return result

    async def _written(self, held: Held, cmd: ExtractCommand, input_sha256: str, io: Io[Any]) -> ExtractResult:
        """The id's artifact exists. An unfinished write of the same input is completed and
        answered with (its caller never got the answer); an owned id reuses an artifact of the
        same input; anything else is a 409."""
        taken = ArtifactExistsError(f"an artifact for request_id {held.entry.artifact_id} already exists")
        if not held.unfinished and not cmd.owned:
            raise taken
        stored = held.stored
        if stored is None:
            stored = msgspec.json.decode(await io(lambda: self._blobs.get(held.entry.rel_ref)))
        if not same_input(stored, cmd.task_id, input_sha256):
            raise taken
        if held.unfinished:
            await self._claims.repair(held, io)
        logger.info("extract reused", extra={"event": "extract_reused", "repaired": held.unfinished})
        return result_from_artifact(stored)

    async def prepare_async(self, cmd: ExtractCommand, principal: Principal) -> dict[str, Any]:
        """Validate an extract like ``run`` would (so bad input is a synchronous 4xx), store a
        base64 image as an owner-scoped input, and return the job request — never base64."""
        task = self._tasks.get(cmd.task_id)
        request_id = check_id(cmd.request_id, "request_id")
        self._apply_debug(task, cmd.debug, principal)
        mime = check_mime_type(cmd.mime_type)
        image, input_info = await self._load_image(cmd, principal, direct)
        await self._images.inspect(image)
        held = await self._index.get(ArtifactKind.EXTRACT, request_id)
        if held is not None and (not held.pending or held.owner_key_id != principal.key_id):
            raise ArtifactExistsError(f"an artifact for request_id {request_id} already exists")
        ref = cmd.image_ref
        if ref is None:
            ref = await self._inputs.put_bytes(principal.key_id, image, ext_for(None, mime))
        return {"task_id": task.task_id, "request_id": request_id, "image_ref": ref, "mime_type": mime,
                "debug": msgspec.structs.asdict(cmd.debug) if cmd.debug else None}

    def _apply_debug(self, task: Task, debug: DebugOverrides | None, principal: Principal) -> tuple[Task, float, int]:
        temperature, max_tokens = self._config.temperature, self._config.max_tokens
        if debug is None or debug == DebugOverrides():
            return task, temperature, min(max_tokens, self._config.max_tokens_limit)
        if not self._config.debug_mode:
            raise NotFoundError("debug overrides are disabled (DEBUG_MODE=0)")
        require_scopes(principal, Scope.DEBUG_RUN)
        if debug.schema_override is not None:
            check_schema(debug.schema_override)
        if debug.prompt_override is not None or debug.schema_override is not None:
            task = self._tasks.with_overrides(task, prompt=debug.prompt_override, schema=debug.schema_override)
        if debug.temperature is not None:
            temperature = debug.temperature
        if debug.max_tokens is not None:
            max_tokens = debug.max_tokens
        return task, temperature, min(max_tokens, self._config.max_tokens_limit)

    async def _load_image(self, cmd: ExtractCommand, principal: Principal, io: Io[Any]) -> tuple[bytes, dict[str, Any]]:
        given = [x for x in (cmd.image_base64, cmd.image_ref, cmd.image_bytes) if x is not None]
        if len(given) != 1:
            raise InvalidInputError("give exactly one of image_base64 or image_ref")
        mime = check_mime_type(cmd.mime_type)
        if cmd.image_base64 is not None:
            data = decode_base64_image(cmd.image_base64, self._config.max_image_bytes)
            return data, {"task_id": cmd.task_id, "mime_type": mime, "image_base64_len": len(cmd.image_base64)}
        if cmd.image_ref is not None:
            ref = cmd.image_ref
            data = await io(lambda: self._read_input(ref, principal))
            return data, {"task_id": cmd.task_id, "mime_type": mime, "image_ref": cmd.image_ref}
        data = cmd.image_bytes or b""
        if len(data) > self._config.max_image_bytes:
            raise PayloadTooLargeError("the image is larger than MAX_IMAGE_BYTES",
                                       details={"max_bytes": self._config.max_image_bytes})
        info: dict[str, Any] = {"task_id": cmd.task_id, "mime_type": mime}
        if cmd.input_ref:
            info["input_ref"] = cmd.input_ref
        return data, info

    async def _read_input(self, ref: str, principal: Principal) -> bytes:
        data = await self._inputs.read(ref, principal)
        if len(data) > self._config.max_image_bytes:
            raise PayloadTooLargeError("the image is larger than MAX_IMAGE_BYTES",
                                       details={"max_bytes": self._config.max_image_bytes})
        return data


def _interpret(
    task: Task, text: str | None, failure: InferenceFailure | None
) -> tuple[dict[str, Any] | None, list[dict[str, str]] | None, list[dict[str, Any]], ExtractFailure | None]:
    if failure is not None:
        details: dict[str, Any] = {"http_status": failure.http_status} if failure.http_status else {}
        if failure.upstream_request_id:
            details["upstream_request_id"] = failure.upstream_request_id
        return None, None, [], ExtractFailure(
            code=failure.code, message=failure.message, retryable=failure.retryable, details=details,
        )
    try:
        candidate = extract_json_object(text or "")
    except InvalidModelOutputError as exc:
        return None, None, [], ExtractFailure(code="invalid_model_output", message=exc.message, retryable=False)
    issues = validate_output(task.json_schema, candidate)
    if issues:
        errors = [{"path": i.path, "message": i.message} for i in issues]
        return None, errors, [], ExtractFailure(
            code="schema_validation_failed", message=f"model output failed the schema ({len(errors)} errors)",
            retryable=False, details={"error_count": len(errors)},
        )
    checks = [msgspec.structs.asdict(c) for c in run_checks(task.checks, candidate)]
    return candidate, None, checks, None
