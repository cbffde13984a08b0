"""``ocr-orchestrator worker`` as a real process, for integration and end-to-end tests."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.process import BIN

_numbers = itertools.count(1)


class WorkerProcess:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = workdir / f"worker-{next(_numbers)}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> WorkerProcess:
        """Start and wait until the worker consumes its queue."""
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen([str(BIN), "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.logs()}")
            if any(r.get("event") == "worker_ready" for r in self.log_records()):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"worker did not become ready:\n{self.logs()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.logs().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line still being written, or not JSON at all
                continue
        return records

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.log_records() if r.get("event") == name]
