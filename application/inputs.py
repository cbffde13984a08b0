"""Content-addressed, owner-scoped input images: ``inputs/<owner>/<sha[:2]>/<sha><ext>``."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator

from application.ports.blobs import BlobStore
from application.ports.input_usage import InputUsage
from domain.artifacts import check_rel
from domain.auth import Principal
from domain.errors import (
    ArtifactExistsError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from domain.ids import check_id

logger = logging.getLogger("ocr.inputs")

_EXT_BY_MIME = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
                "image/bmp": ".bmp", "image/tiff": ".tiff"}
MIME_BY_EXT = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
               ".gif": "image/gif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff"}


def input_rel(owner_key_id: str, sha256_hex: str, ext: str) -> str:
    check_id(owner_key_id, "owner")
    return f"inputs/{owner_key_id}/{sha256_hex[:2]}/{sha256_hex}{ext}"


def ext_for(filename: str | None, mime_type: str | None) -> str:
    if filename and "." in filename:
        ext = "." + filename.rsplit(".", 1)[-1].lower()
        if ext in MIME_BY_EXT:
            return ext
    return _EXT_BY_MIME.get(mime_type or "", ".bin")


def mime_for(path_or_ref: str) -> str:
    ext = "." + path_or_ref.rsplit(".", 1)[-1].lower() if "." in path_or_ref else ""
    return MIME_BY_EXT.get(ext, "image/jpeg")


class InputStore:
    """``usage`` and ``max_bytes_per_owner`` (MAX_INPUT_BYTES_PER_OWNER, 0 = no limit) bound what
    one key may keep stored: a store that would pass the limit is a 413 and stores nothing."""

    def __init__(self, blobs: BlobStore, usage: InputUsage | None = None, max_bytes_per_owner: int = 0) -> None:
        self._blobs = blobs
        self._usage = usage if max_bytes_per_owner > 0 else None
        self._max = max_bytes_per_owner

    async def _reserve(self, owner_key_id: str, size: int) -> None:
        if self._usage is not None and not await self._usage.add(owner_key_id, size, limit=self._max):
            raise PayloadTooLargeError("this key's stored inputs would pass MAX_INPUT_BYTES_PER_OWNER",
                                       details={"max_bytes": self._max, "size": size})

    async def _unreserve(self, owner_key_id: str, size: int) -> None:
        if self._usage is None or size <= 0:
            return
        try:
            await self._usage.subtract(owner_key_id, size)
        except DomainError as exc:  # counted high until then: safe, never lets an owner pass the limit
            logger.warning("input usage not lowered", extra={"event": "input_usage_error", "error": exc.code})

    async def put_bytes(self, owner_key_id: str, data: bytes, ext: str) -> str:
        ref, _ = await self.put_new(owner_key_id, hashlib.sha256(data).hexdigest(), ext, data)
        return ref

    async def put_new(self, owner_key_id: str, sha256_hex: str, ext: str, data: bytes) -> tuple[str, bool]:
        """Store bytes whose sha256 the caller computed (e.g. while receiving them), in one
        write. Returns the ref and whether this call created it (False: same content, same
        owner, already stored)."""
        rel = input_rel(owner_key_id, sha256_hex, ext)
        try:
            await self._reserve(owner_key_id, len(data))
        except PayloadTooLargeError:
            if await self._blobs.exists(rel):  # stored already: no new bytes, nothing to refuse
                return rel, False
            raise
        try:
            await self._blobs.put(rel, data, content_type=_content_type(ext))
        except ArtifactExistsError:  # the same content, kept once and counted once
            await self._unreserve(owner_key_id, len(data))
            return rel, False
        except BaseException:
            await self._unreserve(owner_key_id, len(data))
            raise
        return rel, True

    async def discard(self, refs: list[str]) -> None:
        """Best-effort removal of inputs a refused request created; a failure is logged."""
        for ref in refs:
            try:
                size = await self._size(ref)
                await self._blobs.delete(ref)
            except DomainError as exc:
                logger.warning("could not remove an input", extra={"event": "input_cleanup_failed", "rel": ref,
                                                                   "error": exc.code})
                continue
            await self._unreserve(ref.split("/")[1], size)

    async def _size(self, ref: str) -> int:
        if self._usage is None:
            return 0
        found = await self._blobs.list(ref, limit=1)
        return found[0].size if found and found[0].rel == ref else 0

    async def put_stream(self, owner_key_id: str, sha256_hex: str, ext: str, chunks: AsyncIterator[bytes],
                         size: int) -> tuple[str, bool]:
        """Store a stream of ``size`` bytes whose sha256 the caller computed while receiving it.
        Returns the ref and whether this call created it (False: the content was there)."""
        rel = input_rel(owner_key_id, sha256_hex, ext)
        if await self._blobs.exists(rel):
            return rel, False
        await self._reserve(owner_key_id, size)
        try:
            await self._blobs.put_stream(rel, chunks, content_type=_content_type(ext))
        except ArtifactExistsError:
            await self._unreserve(owner_key_id, size)
            return rel, False
        except BaseException:
            await self._unreserve(owner_key_id, size)
            raise
        return rel, True

    async def read(self, ref: str, principal: Principal) -> bytes:
        check_ref(ref)
        if not ref.startswith(f"inputs/{principal.key_id}/"):
            raise NotFoundError("image_ref not found")  # another owner's input looks missing
        return await self._blobs.get(ref)


def check_ref(ref: str) -> str:
    if not ref.startswith("inputs/"):
        raise InvalidInputError("image_ref must be an inputs/… reference", details={"field": "image_ref"})
    return check_rel(ref)


def _content_type(ext: str) -> str:
    return MIME_BY_EXT.get(ext, "application/octet-stream")
