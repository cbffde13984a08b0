"""The aiobotocore S3 client the S3 blob store runs on (R2, MinIO, AWS)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session


def s3_client_config(
    *,
    force_path_style: bool,
    max_pool_connections: int = 10,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> AioConfig:
    return AioConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path" if force_path_style else "auto"},
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # S3BlobStore owns retrying (storage_retry events, 412 after an ambiguous failure);
        # a second layer in botocore would multiply attempts. See ADR 0031.
        retries={"mode": "standard", "total_max_attempts": 1},
        # Only send/verify checksums when the operation requires them: several S3-compatible
        # servers reject or mishandle the newer default CRC trailers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


@asynccontextmanager
async def open_s3_client(
    *,
    endpoint_url: str | None,
    region: str = "auto",
    force_path_style: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    max_pool_connections: int = 10,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> AsyncIterator[Any]:
    """Open an S3 client; closes its connection pool on exit.

    Empty strings mean unset: credentials then come from botocore's default chain.
    Region ``auto`` is what Cloudflare R2 expects.
    """
    session = get_session()
    config = s3_client_config(
        force_path_style=force_path_style,
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    async with session.create_client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or "auto",
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None,
        config=config,
    ) as client:
        yield client
