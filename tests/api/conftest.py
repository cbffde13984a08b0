"""HTTP contract tests: the real app through Litestar's test client, with the container's
store providers overridden by in-memory fakes and local storage in a temp dir."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import TestClient

from application.api_keys import create_api_key
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.fakes import InMemoryApiKeyStore, InMemoryArtifactIndex

PEPPER = "test-pepper-value"


@dataclass
class Api:
    client: TestClient
    settings: Settings
    keys: dict[str, str]
    key_store: InMemoryApiKeyStore
    index: InMemoryArtifactIndex
    container: Any
    artifacts_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def artifact(self, rel: str) -> dict[str, Any]:
        return msgspec.json.decode((self.artifacts_dir / rel).read_bytes())


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    clients: list[TestClient] = []

    def make(configure: Callable[[Any], None] | None = None, **overrides: Any) -> Api:
        base = dict(
            artifacts_dir=str(tmp_path / "artifacts"), data_root=str(tmp_path / "data"),
            jobs_db_path=str(tmp_path / "db" / "jobs.db"), auth_db_path=str(tmp_path / "db" / "auth.db"),
            pepper_file=str(tmp_path / "pepper"), api_key_pepper=PEPPER, log_format="text",
        )
        base.update(overrides)
        settings = Settings(**base)
        container = build_container(settings)
        key_store, index = InMemoryApiKeyStore(), InMemoryArtifactIndex()
        container.api_key_store.override(providers.Object(key_store))
        container.artifact_index.override(providers.Object(index))
        keys = {}
        for role in ("client", "debugger", "admin"):
            created = asyncio.run(create_api_key(key_store, PEPPER.encode(), key_id=f"{role}-key", role=role))
            keys[role] = created.api_key
        created = asyncio.run(create_api_key(key_store, PEPPER.encode(), key_id="other-client", role="client"))
        keys["other"] = created.api_key
        if configure is not None:
            configure(container)
        client = TestClient(create_app(container), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Api(client=client, settings=settings, keys=keys, key_store=key_store, index=index,
                   container=container, artifacts_dir=Path(settings.artifacts_dir))

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "request_id", "details"}
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    return error
