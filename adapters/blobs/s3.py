"""Blob storage on S3-compatible object storage (R2, MinIO, AWS) — ADRs 0030, 0031."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from botocore.exceptions import ResponseStreamingError

from adapters.blobs.s3_bucket import create_bucket_if_missing, missing_bucket_error
from adapters.blobs.s3_retry import Retrier
from application.ports.blobs import BlobInfo
from domain.artifacts import check_prefix, check_rel
from domain.errors import (
    ArtifactExistsError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)

logger = logging.getLogger("ocr.storage")

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last


class S3BlobStore:
    """Object key = ``f"{prefix}/{rel}"`` (just ``rel`` when the prefix is empty).

    Without ``allow_overwrite`` every write is conditional (``If-None-Match: *``), so the
    server, not a prior existence check, decides who wins a race.
    """

    def __init__(
        self,
        client: Any,
        *,
        bucket: str,
        prefix: str = "",
        allow_overwrite: bool = False,
        max_attempts: int = 4,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        part_size: int = 8 * 1024 * 1024,
        missing_bucket_hint: str = "",
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("part_size must be at least 5 MiB")
        prefix = prefix.strip("/")
        if prefix:
            check_rel(prefix)
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._allow_overwrite = allow_overwrite
        self._part_size = part_size
        self._missing_bucket_hint = missing_bucket_hint
        self._retry = Retrier(max_attempts=max_attempts, base_delay=base_delay, max_delay=max_delay,
                              missing_bucket=self._missing_bucket)

    def _missing_bucket(self) -> StorageUnavailableError:
        return missing_bucket_error(self._bucket, self._missing_bucket_hint)

    async def create_bucket_if_missing(self, *, region: str = "auto") -> bool:
        """Startup only (``S3_CREATE_BUCKET=1``); True when the bucket was created."""
        return await create_bucket_if_missing(self._client, self._bucket, region=region)

    def _key(self, rel: str) -> str:
        check_rel(rel)
        return f"{self._prefix}/{rel}" if self._prefix else rel

    def _condition(self) -> dict[str, str]:
        return {} if self._allow_overwrite else {"IfNoneMatch": "*"}

    async def _etag(self, key: str, rel: str) -> str | None:
        try:
            head = await self._retry.run(
                "head", rel, lambda: self._client.head_object(Bucket=self._bucket, Key=key)
            )
        except NotFoundError:
            return None
        return str(head.get("ETag", "")).strip('"')

    async def _conditional(self, op: str, rel: str, key: str, expected_etag: str, call: Any) -> Any:
        """Run a conditional write. A 412 on a *retry* may be our own earlier attempt that
        landed before its response was lost; the ETag tells ours from a competitor's."""
        attempts = 0

        async def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            return await call()

        try:
            return await self._retry.run(op, rel, attempt)
        except ArtifactExistsError:
            if attempts > 1 and await self._etag(key, rel) == expected_etag:
                return None
            raise

    async def put(self, rel: str, data: bytes, *, content_type: str = "application/json") -> None:
        started = time.perf_counter()
        key = self._key(rel)
        kwargs = {"Bucket": self._bucket, "Key": key, "Body": data, "ContentType": content_type}
        kwargs.update(self._condition())
        await self._conditional(
            "put",
            rel,
            key,
            hashlib.md5(data).hexdigest(),
            lambda: self._client.put_object(**kwargs),
        )
        self._log("storage_put", rel, len(data), started)

    async def put_stream(
        self,
        rel: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str = "application/octet-stream",
    ) -> int:
        started = time.perf_counter()
        key = self._key(rel)
        if not self._allow_overwrite and await self.exists(rel):
            # Fail before uploading anything; the conditional complete still decides races.
            raise ArtifactExistsError("artifact already exists", details={"rel": rel})
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        digests: list[bytes] = []
        total = 0
        buffer = bytearray()
        try:
            async for chunk in chunks:
                buffer += chunk
                total += len(chunk)
                while len(buffer) >= self._part_size:
                    if upload_id is None:
                        upload_id = await self._create_upload(rel, key, content_type)
                    part = bytes(buffer[: self._part_size])
                    del buffer[: self._part_size]
                    await self._upload_part(rel, key, upload_id, part, parts, digests)
            if upload_id is None:
                await self.put(rel, bytes(buffer), content_type=content_type)
                return total
            if buffer:
                await self._upload_part(rel, key, upload_id, bytes(buffer), parts, digests)
                buffer.clear()
            expected = f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"

            def complete() -> Any:
                return self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    **self._condition(),
                )

            await self._conditional("complete_upload", rel, key, expected, complete)
            upload_id = None
        finally:
            if upload_id is not None:
                await self._abort(rel, key, upload_id)
        self._log("storage_put", rel, total, started)
        return total

    async def _create_upload(self, rel: str, key: str, content_type: str) -> str:
        created = await self._retry.run(
            "create_upload",
            rel,
            lambda: self._client.create_multipart_upload(
                Bucket=self._bucket, Key=key, ContentType=content_type
            ),
        )
        return str(created["UploadId"])

    async def _upload_part(
        self,
        rel: str,
        key: str,
        upload_id: str,
        data: bytes,
        parts: list[dict[str, Any]],
        digests: list[bytes],
    ) -> None:
        number = len(parts) + 1
        uploaded = await self._retry.run(
            "upload_part",
            rel,
            lambda: self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            ),
        )
        parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
        digests.append(hashlib.md5(data).digest())

    async def _abort(self, rel: str, key: str, upload_id: str) -> None:
        try:
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=key, UploadId=upload_id
            )
        except Exception:  # noqa: BLE001 - the original failure matters more; lifecycle rules reap leftovers
            logger.warning(
                "storage_abort_failed", extra={"event": "storage_abort_failed", "rel": rel}
            )

    async def get(self, rel: str) -> bytes:
        started = time.perf_counter()
        key = self._key(rel)

        async def fetch() -> bytes:
            response = await self._client.get_object(Bucket=self._bucket, Key=key)
            async with response["Body"] as body:
                try:
                    return await body.read()
                except (aiohttp.ClientError, OSError) as exc:
                    # The connection broke after the headers (a payload cut short): aiobotocore
                    # passes this one through untranslated; it is as transient as a refused connect.
                    raise ResponseStreamingError(error=exc) from exc

        data = await self._retry.run("get", rel, fetch)
        self._log("storage_get", rel, len(data), started)
        return data

    async def exists(self, rel: str) -> bool:
        return await self._etag(self._key(rel), rel) is not None

    async def list(self, prefix: str, *, limit: int | None = None) -> list[BlobInfo]:
        check_prefix(prefix)
        if limit is not None and limit < 0:
            raise InvalidInputError("limit must be >= 0", details={"field": "limit"})
        if limit == 0:
            return []
        full = f"{self._prefix}/{prefix}" if self._prefix else prefix
        strip = len(self._prefix) + 1 if self._prefix else 0

        async def collect() -> list[BlobInfo]:
            found: list[BlobInfo] = []
            paginator = self._client.get_paginator("list_objects_v2")
            page_size = min(limit, 1000) if limit else 1000
            pages = paginator.paginate(
                Bucket=self._bucket, Prefix=full, PaginationConfig={"PageSize": page_size}
            )
            async for page in pages:
                for obj in page.get("Contents", []):
                    rel = obj["Key"][strip:]
                    if not _valid_rel(rel):  # folder markers or keys written by other tools
                        continue
                    found.append(
                        BlobInfo(rel=rel, size=int(obj["Size"]), created_at=obj["LastModified"])
                    )
                    if limit is not None and len(found) >= limit:
                        return found
            return found

        found = await self._retry.run("list", prefix, collect)
        found.sort(key=lambda info: info.rel)
        return found

    async def delete(self, rel: str) -> None:
        key = self._key(rel)
        await self._retry.run(
            "delete", rel, lambda: self._client.delete_object(Bucket=self._bucket, Key=key)
        )

    async def ping(self) -> None:
        # One attempt: a readiness probe reports the current state, the caller polls.
        try:
            await Retrier(max_attempts=1).run(
                "ping", "", lambda: self._client.head_bucket(Bucket=self._bucket)
            )
        except StorageUnavailableError:
            raise
        except NotFoundError:  # HeadBucket answers a bare 404 for a missing bucket
            raise self._missing_bucket() from None
        except DomainError as exc:  # e.g. 403: storage is not usable
            raise StorageUnavailableError(
                f"object storage bucket {self._bucket!r} not reachable",
                details={"reason": exc.code, "bucket": self._bucket}, retryable=False,
            ) from exc

    @staticmethod
    def _log(event: str, rel: str, size: int, started: float) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        logger.info(
            event, extra={"event": event, "rel": rel, "bytes": size, "duration_ms": duration_ms}
        )


def _valid_rel(rel: str) -> bool:
    try:
        check_rel(rel)
    except InvalidInputError:
        return False
    return True
