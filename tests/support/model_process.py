"""The OpenAI-compatible test server (``tests.support.openai_server``) as a process that a test
can kill (SIGKILL, like a crashed vLLM) and start again on the same port."""

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
MODEL = "Qwen/Qwen3-VL-8B-Instruct"


class ModelServerProcess:
    def __init__(self, *, port: int | None = None, model: str = MODEL) -> None:
        self.port = port or free_port()
        self.model = model
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20) -> Self:
        """Start (again, after a kill) on the same port and wait until it answers."""
        assert not self.running
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--port",
                                      str(self.port), "--model", self.model], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the model server exited early ({self.proc.returncode})")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the model server did not answer")

    def kill(self) -> None:
        """SIGKILL: connections in flight are cut, new ones are refused."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def script(self, *behaviours: dict[str, Any]) -> None:
        """Queue behaviours for the next chat completions (see ``openai_server``)."""
        r = httpx.post(f"{self.url}/__control/script", json={"endpoint": "chat", "behaviours": list(behaviours)})
        r.raise_for_status()

    def chat_requests(self) -> list[dict[str, Any]]:
        """The chat completions this process received (not those of an earlier, killed one)."""
        seen = httpx.get(f"{self.url}/__control/requests", timeout=5).json()
        return [q for q in seen if q["path"].endswith("/chat/completions")]
