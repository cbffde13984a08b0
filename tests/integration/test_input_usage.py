"""Stored-input bytes per owner (MAX_INPUT_BYTES_PER_OWNER): the InputUsage contract on SQLite,
PostgreSQL and the fake, and the limit through the HTTP app."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.input_usage import SqlInputUsage
from tests.api.batches_helpers import upload
from tests.api.conftest import assert_envelope
from tests.contracts.input_usage_contract import InputUsageContract
from tests.support.fakes import InMemoryInputUsage
from tests.support.images import image_bytes


class TestInMemoryInputUsage(InputUsageContract):
    @pytest.fixture
    def adapter(self) -> InMemoryInputUsage:
        return InMemoryInputUsage()


class TestSqliteInputUsage(InputUsageContract):
    @pytest.fixture
    def adapter(self, sqlite_engine: AsyncEngine) -> SqlInputUsage:
        return SqlInputUsage(sqlite_engine)


@pytest.mark.services
class TestPostgresInputUsage(InputUsageContract):
    @pytest.fixture
    def adapter(self, pg_engine: AsyncEngine) -> SqlInputUsage:
        return SqlInputUsage(pg_engine)


def stored_inputs(api: Any) -> list[str]:
    return sorted(str(p.relative_to(api.artifacts_dir)) for p in (api.artifacts_dir / "inputs").rglob("*")
                  if p.is_file())


def test_a_key_over_its_input_limit_gets_413_and_nothing_is_stored(make_api: Any) -> None:
    first, second, third = image_bytes(size=(40, 40)), image_bytes(size=(41, 40)), image_bytes(size=(42, 40))
    api = make_api(max_input_bytes_per_owner=len(first) + len(second) + 10)
    body = {"task_id": "receipt_fields_v1", "mime_type": "image/png"}
    for n, image in enumerate((first, second)):
        r = api.client.post("/v1/extract_async", headers=api.auth(), json={
            **body, "request_id": f"quota-{n}", "image_base64": base64.b64encode(image).decode()})
        assert r.status_code == 202, r.text
    # The same content again is stored once and counted once.
    again = api.client.post("/v1/extract_async", headers=api.auth(), json={
        **body, "request_id": "quota-again", "image_base64": base64.b64encode(first).decode()})
    assert again.status_code == 202, again.text
    before = stored_inputs(api)
    over = api.client.post("/v1/extract_async", headers=api.auth(), json={
        **body, "request_id": "quota-3", "image_base64": base64.b64encode(third).decode()})
    error = assert_envelope(over, 413, "payload_too_large")
    assert error["details"]["max_bytes"] == len(first) + len(second) + 10
    assert stored_inputs(api) == before
    # Another key has its own allowance; an upload over the limit is refused the same way.
    other = api.client.post("/v1/extract_async", headers=api.auth("other"), json={
        **body, "request_id": "quota-other", "image_base64": base64.b64encode(third).decode()})
    assert other.status_code == 202, other.text
    refused = upload(api, [("z.png", third)])
    assert_envelope(refused, 413, "payload_too_large")
    assert stored_inputs(api) == sorted([*before, *[p for p in stored_inputs(api) if "/other-client/" in p]])


def test_inputs_a_batch_does_not_keep_give_their_bytes_back(make_api: Any) -> None:
    image = image_bytes(size=(50, 50))
    api = make_api(max_input_bytes_per_owner=len(image) + 5)
    for n in range(3):  # stored for the run only, removed after it: the allowance comes back each time
        r = upload(api, [("a.png", image)], persist_inputs="false", run_id=f"ephemeral-{n}")
        assert r.status_code == 200 and r.json()["ok_count"] == 1, r.text
    assert stored_inputs(api) == []
