"""Session-wide fixtures: a fresh PostgreSQL database, an S3 server, Redis."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from tests.support.pg import fresh_database
from tests.support.services import (
    DEFAULT_PG_ADMIN_URL,
    DEFAULT_REDIS_URL,
    docker_available,
    free_port,
    port_open,
    unavailable,
)


def _admin_dsn() -> str:
    url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_ADMIN_URL
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a database created for this test session and dropped after it."""
    yield from _fresh_database()


@pytest.fixture
def pg_fresh_url() -> Iterator[str]:
    """A database of this test's own (never migrated yet), dropped after it."""
    yield from _fresh_database()


def _fresh_database() -> Iterator[str]:
    try:
        import asyncpg  # noqa: F401
    except ImportError:  # pragma: no cover
        unavailable("asyncpg not installed")
    dsn = _admin_dsn()
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(fresh_database(dsn))
        except Exception as exc:  # noqa: BLE001 - any connection failure means "no PostgreSQL"
            unavailable(f"PostgreSQL not reachable at {dsn}: {exc}")
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of an S3 server: TEST_S3_ENDPOINT, else MinIO through testcontainers when a Docker
    engine answers, else moto's server on 127.0.0.1 (this machine has no Docker engine)."""
    given = os.environ.get("TEST_S3_ENDPOINT")
    if given:
        yield given
        return
    if docker_available():
        try:
            from testcontainers.minio import MinioContainer

            minio = MinioContainer().start()
        except Exception:  # noqa: BLE001 - no engine behind the socket: fall back to moto
            minio = None
        if minio is not None:
            cfg = minio.get_config()
            os.environ["AWS_ACCESS_KEY_ID"] = cfg["access_key"]
            os.environ["AWS_SECRET_ACCESS_KEY"] = cfg["secret_key"]
            try:
                yield f"http://{cfg['endpoint']}"
            finally:
                minio.stop()
            return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        unavailable("no S3 server: install moto[server], run Docker, or set TEST_S3_ENDPOINT")
        return
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    hostport = url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not port_open(host or "127.0.0.1", int(port or 6379)):
        unavailable(f"Redis not reachable at {url}")
    return url


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy credentials for moto (real ones come from the environment for MinIO/R2)."""
    key = os.environ.get("AWS_ACCESS_KEY_ID") or "testing"
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing-secret"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    return {"aws_access_key_id": key, "aws_secret_access_key": secret}
