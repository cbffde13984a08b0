"""Running ``ocr-orchestrator`` as a real process for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import free_port

BIN = Path(sys.executable).with_name("ocr-orchestrator")


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout, check=False)


def create_key(env: dict[str, str], key_id: str, role: str) -> str:
    result = cli(env, "keys", "create", "--key-id", key_id, "--role", role)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["api_key"]


class ServiceProcess:
    """``ocr-orchestrator serve`` on a free port; output goes to a log file for assertions."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env}
        self.log_path = workdir / f"serve-{self.port}.log"
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> ServiceProcess:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([str(BIN), "serve", "--port", str(self.port)], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited early:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base_url}/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"serve did not become healthy:\n{self.log_path.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.logs().splitlines():
            line = line.strip()
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
