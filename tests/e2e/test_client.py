"""The Python client (``ocr_client``) driving the real ``ocr-orchestrator serve``: extraction with
its failure modes, async jobs with long-polling, upload batches with progress, cancel, reruns,
runs paging, site analysis and billing — with the sync and the async client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocr_client import (
    ArtifactExistsError,
    AsyncOcrClient,
    AuthError,
    BadRequestError,
    BatchResult,
    ConflictError,
    ExtractResult,
    Job,
    NotFoundError,
    OcrClient,
    ValidationError,
    image_files,
)
from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e

TASK = "receipt_fields_v1"


class Server:
    def __init__(self, service: ServiceProcess, admin: str, client: str) -> None:
        self.url, self.admin, self.client = service.base_url, admin, client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("client-e2e")
    # every mock model call takes 200 ms, so a batch at concurrency 1 can be caught running
    env = {**base_env(tmp), "MOCK_LATENCY_MS": "200", "LOG_LEVEL": "WARNING", "OPENAI_ADMIN_KEY": "",
           "DEBUG_MODE": "0"}
    admin = create_key(env, "admin-client-e2e", "admin")
    client = create_key(env, "client-e2e", "client")
    with ServiceProcess(env, tmp) as service:
        yield Server(service, admin, client)


@pytest.fixture
def ocr(server: Server) -> Iterator[OcrClient]:
    with OcrClient(server.url, server.client, timeout=30) as c:
        yield c


def scans(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"r{i:02d}.png").write_bytes(image_bytes(size=(32 + i, 24)))
    (directory / "notes.txt").write_text("not an image")
    return image_files(directory)


def test_service_identity_and_tasks(ocr: OcrClient) -> None:
    health = ocr.health()
    assert health.ok and health.inference_backend == "mock" and health.auth_enabled
    assert ocr.ready()["ok"] is True
    me = ocr.me()
    assert (me.key_id, me.role, me.scopes) == ("client-e2e", "client", ["extract:run"])
    assert {t.task_id for t in ocr.tasks()} == {"receipt_fields_v1", "items_light_v1", "receipt_v1", "invoice_v1"}


def test_extract_and_its_failure_modes(ocr: OcrClient, server: Server, tmp_path: Path) -> None:
    jpeg = tmp_path / "receipt.jpg"
    jpeg.write_bytes(image_bytes("JPEG", (320, 240)))
    res = ocr.extract(jpeg, TASK, request_id="client-ok-1")  # a path; the mime type sniffed as jpeg
    assert isinstance(res, ExtractResult) and res.ok and res.request_id == "client-ok-1"
    assert set(res.parsed or {}) >= {"total", "cash"} and res.artifact_rel.endswith("client-ok-1.json")
    assert res.meta.attempts == 1 and res.timings_ms.total >= 0 and res.raw is None
    stored = ocr.run_item("client-ok-1")
    assert stored["parsed"] == res.parsed and stored["input"]["mime_type"] == "image/jpeg"

    png = image_bytes()
    bad_json = ocr.extract(png, TASK, request_id="mock_fail_json_client")
    assert not bad_json.ok and bad_json.error.code == "invalid_model_output"
    bad_schema = ocr.extract(png, TASK, request_id="mock_fail_schema_client")
    assert bad_schema.error.code == "schema_validation_failed" and bad_schema.schema_errors
    upstream = ocr.extract(png, TASK, request_id="mock_fail_upstream_client")
    assert upstream.error.code == "upstream_unavailable" and upstream.error.retryable
    assert upstream.error_history and upstream.error_history[0].code == "upstream_unavailable"

    with pytest.raises(ArtifactExistsError) as dup:
        ocr.extract(png, TASK, request_id="client-ok-1")
    assert isinstance(dup.value, ConflictError) and dup.value.status == 409
    assert dup.value.code == "artifact_exists" and dup.value.request_id
    with pytest.raises(BadRequestError) as not_image:
        ocr.extract(b"this is not an image at all", TASK, mime_type="image/png")
    assert not_image.value.status == 400
    with pytest.raises(NotFoundError) as unknown:
        ocr.extract(png, "no_such_task_v9")
    assert unknown.value.code == "unknown_task" and "receipt_v1" in str(unknown.value.details)
    with OcrClient(server.url) as anonymous, pytest.raises(AuthError) as missing:
        anonymous.extract(png, TASK)
    assert missing.value.code == "auth_missing" and missing.value.status == 401
    with OcrClient(server.url, "not-a-key") as wrong, pytest.raises(AuthError) as invalid:
        wrong.me()
    assert invalid.value.code == "auth_invalid"


def test_extract_async_wait_for_and_result(ocr: OcrClient) -> None:
    job = ocr.extract_async(image_bytes(), TASK, request_id="client-async-1", idempotency_key="client-async-1")
    assert job.status == "queued" and job.poll_url == f"/v1/jobs/{job.job_id}"
    again = ocr.extract_async(image_bytes(), TASK, request_id="client-async-1", idempotency_key="client-async-1")
    assert again.job_id == job.job_id  # same key, same body: the original job
    done = ocr.wait_for(job.job_id, timeout=30, poll_wait=5)
    assert done.succeeded and done.kind == "extract" and done.finished_at
    full = ocr.result(job.job_id)
    assert full["request_id"] == "client-async-1" and full["schema_valid"] is True
    typed = ocr.extract_result(job.job_id)
    assert typed.ok and typed.parsed == full["parsed"]
    with pytest.raises(ConflictError) as finished:
        ocr.cancel(job.job_id)
    assert finished.value.code == "conflict"
    with pytest.raises(NotFoundError):
        ocr.job("no-such-job-123")
    with pytest.raises(BadRequestError):
        ocr.job("bad id!")


def test_upload_batch_with_progress_then_rerun_and_runs(ocr: OcrClient, tmp_path: Path) -> None:
    files = scans(tmp_path / "scans", 10)
    assert len(files) == 10
    job = ocr.batch_upload(files, TASK, concurrency=4, run_id="client-run-1")
    seen: list[Job] = []
    while not job.done:
        job = ocr.job(job.job_id, wait=5)
        seen.append(job)
    assert job.succeeded and job.kind
    done = [j.progress.done for j in seen if j.progress]
    assert done == sorted(done) and job.progress.done == job.progress.total == 10
    assert job.progress.ok == 10 and job.progress.err == 0
    batch = ocr.batch_result(job.job_id)
    assert isinstance(batch, BatchResult) and batch.run_id == "client-run-1"
    assert batch.item_count == batch.ok_count == 10 and [i.file for i in batch.items] == [f.name for f in files]
    assert all(i.ok and i.input_ref and i.parsed for i in batch.items)
    assert ocr.run("client-run-1").items[3].request_id == batch.items[3].request_id
    assert ocr.result(job.job_id)["ok_count"] == 10

    rerun = ocr.wait_for(ocr.rerun("client-run-1", "receipt_v1", new_run_id="client-run-2", limit=3).job_id,
                         timeout=30)
    rerun_result = ocr.batch_result(rerun.job_id)
    assert rerun.succeeded and rerun_result.task_id == "receipt_v1" and rerun_result.item_count == 3

    run_ids = [r.run_id for r in ocr.runs(limit=1)]  # one per page: the iterator follows the cursors
    assert {"client-run-1", "client-run-2"} <= set(run_ids) and len(run_ids) == len(set(run_ids))
    first = next(r for r in ocr.runs() if r.run_id == "client-run-1")
    assert first.ok_count == 10 and first.task_id == TASK
    assert any(j.job_id == job.job_id for j in ocr.jobs(status="succeeded", limit=2))

    with pytest.raises(ValidationError) as invalid:
        ocr.batch_upload(files[:1], TASK, concurrency=0)
    assert invalid.value.errors and invalid.value.errors[0]["path"] == "$.concurrency"
    with pytest.raises(ArtifactExistsError):
        ocr.batch_upload_sync(files[:1], TASK, run_id="client-run-1")


def test_rerun_only_the_failures(ocr: OcrClient, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("a.png", "mock_fail_json_b.png", "c.png", "mock_fail_schema_d.png"):
        (folder / name).write_bytes(image_bytes(size=(30 + len(name), 20)))
    source = ocr.batch_upload_sync(image_files(folder), TASK, concurrency=4, run_id="client-mixed")
    failed = {i.file for i in source.items if not i.ok}
    assert failed == {"mock_fail_json_b.png", "mock_fail_schema_d.png"}
    redo = ocr.rerun_sync("client-mixed", TASK, new_run_id="client-mixed-2", error_codes=["invalid_model_output"])
    by_file = {i.file: i for i in redo.items}
    kept = {i.file: i for i in source.items}
    # Kept as they were: the successes and the failure with another code; redone: the one asked for.
    for name in ("a.png", "c.png", "mock_fail_schema_d.png"):
        assert by_file[name].request_id == kept[name].request_id
    assert by_file["mock_fail_json_b.png"].request_id != kept["mock_fail_json_b.png"].request_id
    job = ocr.wait_for(ocr.rerun("client-mixed", TASK, new_run_id="client-mixed-3", only_failed=True).job_id,
                       timeout=30)
    redone = {i.file: i for i in ocr.batch_result(job.job_id).items}
    assert redone["a.png"].request_id == kept["a.png"].request_id
    assert all(redone[name].request_id != kept[name].request_id for name in failed)


def test_cancel_a_slow_batch(ocr: OcrClient) -> None:
    files = [(f"slow{i:02d}.png", image_bytes(size=(20 + i, 20))) for i in range(20)]
    job = ocr.batch_upload(files, TASK, concurrency=1)
    with pytest.raises(ConflictError):
        ocr.result(job.job_id)  # not finished yet
    while (job := ocr.job(job.job_id)).progress is None or job.progress.done < 2:
        assert not job.done
        time.sleep(0.05)
    canceled = ocr.cancel(job.job_id)
    assert canceled.cancel_requested and canceled.job_id == job.job_id
    final = ocr.wait_for(job.job_id, timeout=30, poll_wait=5)
    assert final.status == "canceled" and final.done and not final.succeeded
    partial = ocr.batch_result(job.job_id)
    assert 2 <= partial.item_count < 20 and all(i.ok for i in partial.items)


def test_analyze_and_billing(ocr: OcrClient) -> None:
    out = ocr.analyze("Завод выпускает стальные трубы и арматуру. Оборудование: трубосварочный стан.",
                      pars_id=3, company_name="ТрубСталь", okved="24.20",
                      goods_catalog=[{"id": 5, "name": "Трубы стальные", "vec": None}],
                      equipment_catalog={"items": [{"id": 7, "name": "Трубосварочный стан", "vec": None}]},
                      request_id="client-analyze-1")
    payload = out["db_payload"]
    assert out["pars_id"] == 3 and payload["description"] and payload["llm_answer"]
    assert payload["prodclass"]["id"] and payload["description_vector"]["dim"] > 0
    assert out["catalogs"] == {"goods": 1, "equipment": 1}
    with pytest.raises(BadRequestError):
        ocr.analyze("   ")
    billing = ocr.billing_remaining(project_id="proj_abc")
    assert billing.configured is False and billing.remaining_usd is None
    assert billing.error and "OPENAI_ADMIN_KEY" in billing.error


async def test_the_async_client(server: Server, tmp_path: Path) -> None:
    async with AsyncOcrClient(server.url, server.admin, timeout=30) as ocr:
        assert (await ocr.me()).role == "admin"
        res = await ocr.extract(image_bytes("JPEG", (200, 100)), TASK, request_id="client-aio-1")
        assert res.ok and res.request_id == "client-aio-1"
        with pytest.raises(ArtifactExistsError):
            await ocr.extract(image_bytes(), TASK, request_id="client-aio-1")
        files = scans(tmp_path / "aio", 4)
        job = await ocr.batch_upload(files, TASK, concurrency=2, run_id="client-aio-run")
        final = await ocr.wait_for(job.job_id, timeout=30, poll_wait=5)
        assert final.succeeded and final.progress.done == 4
        batch = await ocr.batch_result(job.job_id)
        assert batch.ok_count == 4 and batch.run_id == "client-aio-run"
        assert "client-aio-run" in [r.run_id async for r in ocr.runs(limit=2)]
        sync_batch = await ocr.batch_upload_sync([("one.png", image_bytes())], TASK, persist_inputs=False)
        assert sync_batch.item_count == 1 and sync_batch.items[0].input_ref is None
