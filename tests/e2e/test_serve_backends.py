"""The real process against real backends: vLLM mode talking HTTP to an OpenAI-compatible
server process, and PostgreSQL for keys and the artifact index."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, cli, create_key
from tests.support.services import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def model_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--port", str(port),
                             "--model", "Qwen/Qwen3-VL-8B-Instruct"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_vllm_mode_against_an_openai_compatible_server(tmp_path: Path, model_server: str) -> None:
    env = {**base_env(tmp_path), "INFERENCE_BACKEND": "vllm", "VLLM_BASE_URL": model_server,  # no /v1 on purpose
           "VLLM_API_KEY": "vllm-e2e-key-123", "VLLM_RETRY_MAX_ATTEMPTS": "2"}
    admin = create_key(env, "admin-v", "admin")
    auth = {"Authorization": f"Bearer {admin}"}
    b64 = base64.b64encode(image_bytes("PNG", (200, 100))).decode()
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        ready = http.get("/v1/ready").json()
        assert ready["ok"] is True and ready["components"]["inference"]["ok"] is True
        assert http.get("/v1/health").json()["model"] == "Qwen/Qwen3-VL-8B-Instruct"
        r = http.post("/v1/extract", headers=auth, json={"task_id": "receipt_v1", "image_base64": b64,
                                                          "mime_type": "image/png", "request_id": "vllm-e2e-1"})
        body = r.json()
        assert r.status_code == 200 and body["error"] is None and body["schema_valid"], body
        seen = httpx.get(f"{model_server}/__control/requests").json()
        chat = [q for q in seen if q["path"].endswith("/chat/completions")]
        assert chat[-1]["headers"]["x-request-id"] == "vllm-e2e-1"
        assert chat[-1]["headers"]["authorization"] == "Bearer vllm-e2e-key-123"
        httpx.post(f"{model_server}/__control/script", json={"endpoint": "chat", "behaviours": [
            {"kind": "status", "status": 503}, {"kind": "status", "status": 503}]})
        r = http.post("/v1/extract", headers=auth, json={"task_id": "receipt_v1", "image_base64": b64,
                                                          "mime_type": "image/png", "request_id": "vllm-e2e-2"})
        body = r.json()
        assert r.status_code == 200 and body["error"]["code"] == "upstream_unavailable"
        assert body["error"]["retryable"] is True and len(body["error_history"]) == 2
    assert "vllm-e2e-key-123" not in service.logs()


def test_vllm_mode_not_ready_when_the_model_server_is_down(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "INFERENCE_BACKEND": "vllm", "VLLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    with ServiceProcess(env, tmp_path) as service:
        r = httpx.get(f"{service.base_url}/v1/ready")
        assert r.status_code == 503 and r.json()["components"]["inference"]["ok"] is False
        assert r.json()["components"]["database"]["ok"] is True


def test_postgres_mode(tmp_path: Path, pg_fresh_url: str) -> None:
    env = {**base_env(tmp_path), "DATABASE_URL": pg_fresh_url, "API_KEY_PEPPER": "pg-e2e-pepper"}
    refused = cli(env, "keys", "list")
    assert refused.returncode == 1 and "db upgrade" in refused.stderr and "Traceback" not in refused.stderr
    assert cli(env, "db", "upgrade").returncode == 0
    assert cli(env, "db", "upgrade").returncode == 0  # idempotent
    admin = create_key(env, "admin-pg", "admin")
    auth = {"X-API-Key": admin}
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        assert http.get("/v1/ready").json()["ok"] is True
        b64 = base64.b64encode(image_bytes()).decode()
        r = http.post("/v1/extract", headers=auth, json={"task_id": "items_light_v1", "image_base64": b64,
                                                          "mime_type": "image/png", "request_id": "pg-e2e-1"})
        assert r.status_code == 200 and r.json()["error"] is None
        assert http.get("/v1/runs/item/pg-e2e-1", headers=auth).json()["request_id"] == "pg-e2e-1"
        again = http.post("/v1/extract", headers=auth, json={"task_id": "items_light_v1", "image_base64": b64,
                                                              "mime_type": "image/png", "request_id": "pg-e2e-1"})
        assert again.status_code == 409
    assert not (tmp_path / "db").exists()  # nothing went to SQLite
