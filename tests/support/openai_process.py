"""The OpenAI-compatible test server (``tests.support.openai_server``) as a separate process,
scripted and read over its ``/__control`` routes: what e2e tests point ``serve`` at in
``INFERENCE_BACKEND=vllm`` mode. It can be killed (SIGKILL, like a crashed vLLM) and started
again on the same port."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

import httpx

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]


class OpenAIServerProcess:
    def __init__(self, model: str = "test-model", *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.model = model
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20) -> Self:
        """Start (again, after a kill) on the same port and wait until it answers."""
        assert not self.running
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--port", str(self.port),
                                      "--model", self.model], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the OpenAI test server exited early ({self.proc.returncode})")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the OpenAI test server did not come up")

    def kill(self) -> None:
        """SIGKILL: connections in flight are cut, new ones are refused."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def script(self, *behaviours: dict[str, Any]) -> None:
        """Queue behaviours for the next chat completions (see ``openai_server``)."""
        r = httpx.post(f"{self.url}/__control/script", json={"endpoint": "chat", "behaviours": list(behaviours)},
                       timeout=5)
        r.raise_for_status()

    def chat_requests(self, request_id: str | None = None) -> list[dict[str, Any]]:
        """Chat completions this process received (not those of an earlier, killed one): all, or
        those sent with this X-Request-ID."""
        seen = httpx.get(f"{self.url}/__control/requests", timeout=5).json()
        chat = [q for q in seen if q["path"].endswith("/chat/completions")]
        if request_id is None:
            return chat
        return [q for q in chat if q["headers"].get("x-request-id") == request_id]

    def wait_for_call(self, request_id: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.chat_requests(request_id):
            if time.monotonic() > deadline:
                raise AssertionError(f"no model call for {request_id} within {timeout} s")
            time.sleep(0.02)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def delay(seconds: float) -> dict[str, Any]:
    return {"kind": "delay", "seconds": seconds}
