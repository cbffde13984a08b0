"""Finding the external services tests need.

Services come from env vars (TEST_DATABASE_URL, TEST_REDIS_URL, TEST_S3_ENDPOINT) or are
started by the tests (moto's S3 server; MinIO through testcontainers when Docker runs).
When one is missing the test is skipped with the reason, except with REQUIRE_SERVICES=1
(CI), where the skip becomes a failure.
"""

from __future__ import annotations

import os
import socket
from contextlib import closing

import pytest

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")


def unavailable(reason: str) -> None:
    """Skip, or fail when services are required."""
    if services_required():
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def docker_available() -> bool:
    return os.path.exists("/var/run/docker.sock") and os.environ.get("TESTCONTAINERS_DISABLED") != "1"
