"""One request id, one model call, one artifact (ADR 0042), through real ``serve`` processes in
vLLM mode against the OpenAI-compatible test server as a process: concurrent duplicates in one
process, a duplicate sent to a second process on the same PostgreSQL database, and a retry
after the index completion failed with a database error."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.openai_process import OpenAIServerProcess, delay
from tests.support.pg import run_sql
from tests.support.process import ServiceProcess, cli, create_key

pytestmark = pytest.mark.e2e

TASK = "receipt_v1"
IMAGE = base64.b64encode(image_bytes("PNG", (200, 100))).decode()
OTHER_IMAGE = base64.b64encode(image_bytes("PNG", (120, 90), color="gray")).decode()


@pytest.fixture
def model() -> Iterator[OpenAIServerProcess]:
    with OpenAIServerProcess() as server:
        yield server


def vllm_env(tmp_path: Path, model: OpenAIServerProcess) -> dict[str, str]:
    return {**base_env(tmp_path), "INFERENCE_BACKEND": "vllm", "VLLM_BASE_URL": f"{model.url}/v1",
            "VLLM_MODEL": model.model, "LOG_LEVEL": "WARNING"}


def postgres_env(tmp_path: Path, model: OpenAIServerProcess, pg_url: str, redis_url: str) -> dict[str, str]:
    """Two API processes may share one database only with Celery running the jobs."""
    env = {**vllm_env(tmp_path, model), "DATABASE_URL": pg_url, "API_KEY_PEPPER": "idempotent-e2e-pepper",
           "JOBS_BACKEND": "celery", "CELERY_BROKER_URL": redis_url}
    upgraded = cli(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return env


def extract(request_id: str, image: str = IMAGE) -> dict[str, Any]:
    return {"task_id": TASK, "image_base64": image, "mime_type": "image/png", "request_id": request_id}


def error_of(r: httpx.Response) -> dict[str, Any]:
    return r.json()["error"]


def stored_artifacts(artifacts: Path, request_id: str) -> list[Path]:
    return sorted((artifacts / "extracts").rglob(f"{request_id}.json"))


def test_32_concurrent_duplicates_make_one_model_call(tmp_path: Path, model: OpenAIServerProcess) -> None:
    env = vllm_env(tmp_path, model)
    auth = {"X-API-Key": create_key(env, "dup-client", "client")}
    request_id = "dup-32-" + uuid.uuid4().hex[:8]
    model.script(*[delay(1.5)] * 32)  # every call that reaches the model is slow: the duplicates overlap it

    async def fire(base_url: str) -> list[tuple[httpx.Response, float]]:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
            started = time.monotonic()

            async def one() -> tuple[httpx.Response, float]:
                r = await http.post("/v1/extract", headers=auth, json=extract(request_id))
                return r, time.monotonic() - started

            return await asyncio.gather(*(one() for _ in range(32)))

    with ServiceProcess(env, tmp_path) as service:
        replies = asyncio.run(fire(service.base_url))
        statuses = sorted(r.status_code for r, _ in replies)
        assert statuses == [200] + [409] * 31, [(r.status_code, r.text[:200]) for r, _ in replies]
        assert {error_of(r)["code"] for r, _ in replies if r.status_code == 409} == {"artifact_exists"}
        # No duplicate was answered before the one model call ended: they all overlapped it.
        assert min(elapsed for _, elapsed in replies) >= 1.4
        assert len(model.chat_requests(request_id)) == 1
        winner = next(r.json() for r, _ in replies if r.status_code == 200)
        assert winner["error"] is None and winner["parsed"] is not None
        with httpx.Client(base_url=service.base_url, timeout=30) as http:
            item = http.get(f"/v1/runs/item/{request_id}", headers=auth)
        assert item.status_code == 200, item.text
        assert item.json()["parsed"] == winner["parsed"]
        assert item.json()["artifact_rel"] == winner["artifact_rel"]
    assert stored_artifacts(tmp_path / "artifacts", request_id) == [tmp_path / "artifacts" / winner["artifact_rel"]]


def test_a_duplicate_on_a_second_process_is_in_progress_then_exists(
        tmp_path: Path, model: OpenAIServerProcess, pg_url: str, redis_url: str) -> None:
    env = postgres_env(tmp_path, model, pg_url, redis_url)
    auth = {"X-API-Key": create_key(env, "xproc-" + uuid.uuid4().hex[:8], "client")}
    request_id = "xproc-" + uuid.uuid4().hex[:8]
    model.script(delay(3.0))
    first: dict[str, httpx.Response] = {}
    with ServiceProcess(env, tmp_path) as one, ServiceProcess(env, tmp_path) as two, \
            httpx.Client(base_url=two.base_url, timeout=30) as http:

        def hold() -> None:
            first["reply"] = httpx.post(f"{one.base_url}/v1/extract", headers=auth, json=extract(request_id),
                                        timeout=30)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            model.wait_for_call(request_id)  # the first process holds the claim and the slow call
            busy = http.post("/v1/extract", headers=auth, json=extract(request_id))
            assert "reply" not in first  # asked while the first call was still running
        finally:
            holder.join(30)
        assert busy.status_code == 409, busy.text
        error = error_of(busy)
        assert error["code"] == "conflict"
        assert error["details"]["reason"] == "in_progress" and error["details"]["retryable"] is True
        assert first["reply"].status_code == 200, first["reply"].text
        after = http.post("/v1/extract", headers=auth, json=extract(request_id))
        assert after.status_code == 409 and error_of(after)["code"] == "artifact_exists", after.text
        item = http.get(f"/v1/runs/item/{request_id}", headers=auth)
        assert item.status_code == 200 and item.json()["parsed"] == first["reply"].json()["parsed"]
    assert len(model.chat_requests(request_id)) == 1


@contextmanager
def failing_index_completion(pg_url: str, request_id: str) -> Iterator[Any]:
    """A trigger that fails the update marking ``request_id``'s index entry complete with
    SQLSTATE 57P01 (admin_shutdown: "the database cannot be used now"). Yields a function that
    drops it; it is dropped at the end in any case."""
    name = "fail_complete_" + uuid.uuid4().hex[:8]
    run_sql(pg_url, f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected: index completion fails' USING ERRCODE = '57P01'; END $$;
        CREATE TRIGGER {name} BEFORE UPDATE ON artifact_index FOR EACH ROW
        WHEN (NEW.state = 'complete' AND NEW.artifact_id = '{request_id}') EXECUTE FUNCTION {name}();
    """)
    dropped = False

    def drop() -> None:
        nonlocal dropped
        if not dropped:
            run_sql(pg_url, f"DROP TRIGGER IF EXISTS {name} ON artifact_index; DROP FUNCTION IF EXISTS {name}();")
            dropped = True

    try:
        yield drop
    finally:
        drop()


def test_a_retry_after_a_failed_index_completion_repairs_without_a_model_call(
        tmp_path: Path, model: OpenAIServerProcess, pg_url: str, redis_url: str) -> None:
    env = postgres_env(tmp_path, model, pg_url, redis_url)
    auth = {"X-API-Key": create_key(env, "repair-" + uuid.uuid4().hex[:8], "client")}
    request_id = "repair-" + uuid.uuid4().hex[:8]
    artifacts = tmp_path / "artifacts"
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http, \
            failing_index_completion(pg_url, request_id) as drop_trigger:
        failed = http.post("/v1/extract", headers=auth, json=extract(request_id))
        assert failed.status_code == 503, failed.text
        assert error_of(failed)["code"] == "storage_unavailable" and error_of(failed)["details"]["retryable"] is True
        assert len(model.chat_requests(request_id)) == 1
        [blob] = stored_artifacts(artifacts, request_id)  # the artifact landed; only its index step failed
        stored_bytes = blob.read_bytes()
        stored = json.loads(stored_bytes)
        # Meanwhile the stored artifact is served as it is; reading it completes nothing, so the
        # caller's retry below still gets its answer.
        early = http.get(f"/v1/runs/item/{request_id}", headers=auth)
        assert early.status_code == 200 and early.json()["parsed"] == stored["parsed"], early.text

        drop_trigger()
        retried = http.post("/v1/extract", headers=auth, json=extract(request_id))
        assert retried.status_code == 200, retried.text
        body = retried.json()
        assert body["request_id"] == request_id and body["error"] is None
        assert body["parsed"] == stored["parsed"] and body["parsed"] is not None
        assert body["artifact_rel"] == stored["artifact_rel"] == str(blob.relative_to(artifacts))
        assert len(model.chat_requests(request_id)) == 1  # repaired, not called again

        item = http.get(f"/v1/runs/item/{request_id}", headers=auth)
        assert item.status_code == 200, item.text
        assert item.json()["parsed"] == stored["parsed"]
        third = http.post("/v1/extract", headers=auth, json=extract(request_id))
        assert third.status_code == 409 and error_of(third)["code"] == "artifact_exists", third.text
        assert len(model.chat_requests(request_id)) == 1
    assert stored_artifacts(artifacts, request_id) == [blob] and blob.read_bytes() == stored_bytes


def test_a_retry_with_another_image_after_a_failed_completion_gets_409(
        tmp_path: Path, model: OpenAIServerProcess, pg_url: str, redis_url: str) -> None:
    env = postgres_env(tmp_path, model, pg_url, redis_url)
    auth = {"X-API-Key": create_key(env, "repair-other-" + uuid.uuid4().hex[:8], "client")}
    request_id = "repair-other-" + uuid.uuid4().hex[:8]
    artifacts = tmp_path / "artifacts"
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http, \
            failing_index_completion(pg_url, request_id) as drop_trigger:
        failed = http.post("/v1/extract", headers=auth, json=extract(request_id))
        assert failed.status_code == 503 and error_of(failed)["code"] == "storage_unavailable", failed.text
        [blob] = stored_artifacts(artifacts, request_id)
        stored_bytes = blob.read_bytes()
        stored = json.loads(stored_bytes)

        drop_trigger()
        other = http.post("/v1/extract", headers=auth, json=extract(request_id, OTHER_IMAGE))
        assert other.status_code == 409, other.text
        assert error_of(other)["code"] == "artifact_exists"
        assert "parsed" not in other.json()  # the first image's result is not handed out
        assert len(model.chat_requests(request_id)) == 1

        item = http.get(f"/v1/runs/item/{request_id}", headers=auth)  # the stored artifact is served
        assert item.status_code == 200 and item.json()["parsed"] == stored["parsed"]
        # The mismatched request repaired nothing: the original caller's retry still gets its answer.
        original = http.post("/v1/extract", headers=auth, json=extract(request_id))
        assert original.status_code == 200 and original.json()["parsed"] == stored["parsed"], original.text
        assert len(model.chat_requests(request_id)) == 1
    assert stored_artifacts(artifacts, request_id) == [blob] and blob.read_bytes() == stored_bytes
