"""Processes for the benches: ``ocr-orchestrator serve``, the simulated vLLM, keys, images.

Bench-local on purpose (not ``tests.support``): benches must keep working while the test
helpers change. Everything listens on and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
BIN = VENV_BIN / "ocr-orchestrator"
REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "cpus": os.cpu_count(),
            "cpu_model": model, "python": platform.python_version(), **code_version()}


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the service code had uncommitted changes (benches run
    the working tree, which may differ from the commit)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=10, check=False).stdout.strip()
        except OSError:
            return ""
    dirty = [line for line in git("status", "--porcelain").splitlines()
             if not line[3:].startswith(("bench/", "docs/"))]
    return {"commit": git("rev-parse", "--short", "HEAD"), "service_tree_dirty": bool(dirty)}


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: everything but idle and iowait)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ForeignCpu:
    """CPU used by processes other than ours during a measurement (another test run, ...).

    ``foreign_cores`` well above ~0.05 means the numbers were taken on a busy machine.
    """

    def __init__(self, *procs: Proc) -> None:
        self.procs = procs

    def start(self) -> ForeignCpu:
        self._t0 = time.monotonic()
        self._busy0 = machine_busy_s()
        self._ours0 = self_cpu_s() + sum(p.cpu_seconds() for p in self.procs)
        return self

    def stop(self) -> None:
        wall = time.monotonic() - self._t0
        ours = self_cpu_s() + sum(p.cpu_seconds() for p in self.procs) - self._ours0
        foreign = max(0.0, machine_busy_s() - self._busy0 - ours)
        self.foreign_cores = round(foreign / wall, 2) if wall else 0.0
        self.loadavg_1m = os.getloadavg()[0]

    def __enter__(self) -> ForeignCpu:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def base_env(workdir: Path, **extra: str) -> dict[str, str]:
    """A self-contained service: temp SQLite, temp local storage, auth on, quiet logs."""
    env = {
        "HOST": HOST, "ARTIFACTS_DIR": str(workdir / "artifacts"),
        "DATA_ROOT": str(workdir / "data"), "JOBS_DB_PATH": str(workdir / "db" / "jobs.db"),
        "AUTH_DB_PATH": str(workdir / "db" / "auth.db"),
        "PEPPER_FILE": str(workdir / "secrets" / "pepper"),
        "API_KEY_PEPPER": secrets.token_urlsafe(24), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
        "S3_BUCKET": "", "DATABASE_URL": "", "INFERENCE_BACKEND": "mock", "AUTH_ENABLED": "1",
        "JOBS_BACKEND": "local", "DEBUG_MODE": "0",
    }
    env.update(extra)
    return env


def prepare_database(env: dict[str, str], cwd: Path) -> None:
    """Apply migrations when the bench runs against DATABASE_URL (PostgreSQL must be migrated)."""
    if not env.get("DATABASE_URL"):
        return
    result = subprocess.run([str(BIN), "db", "upgrade"], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=120, check=False, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"db upgrade failed: {result.stderr[-2000:]}")


def create_admin_key(env: dict[str, str], cwd: Path, key_id: str | None = None) -> str:
    key_id = key_id or f"bench-admin-{secrets.token_hex(4)}"
    result = subprocess.run([str(BIN), "keys", "create", "--key-id", key_id, "--role", "admin"],
                            env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=60, check=False, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"keys create failed: {result.stderr}")
    return json.loads(result.stdout)["api_key"]


class Proc:
    """A child process with a log file, health wait, and /proc readings."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, health_url: str,
                 cwd: Path | None = None) -> None:
        self.argv, self.env, self.log_path, self.health_url = argv, env, log_path, health_url
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> Proc:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.argv, env={**os.environ, **self.env}, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.logs()[-4000:]}")
            try:
                if httpx.get(self.health_url, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.argv} did not become healthy:\n{self.logs()[-4000:]}")

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far."""
        user, system = self.cpu_split()
        return user + system

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the process (all threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK

    def memory_kb(self) -> dict[str, int]:
        """VmRSS / VmHWM (peak RSS) in kB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0])
        return out

    def __enter__(self) -> Proc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def orchestrator(env: dict[str, str], workdir: Path) -> Proc:
    port = free_port()
    proc = Proc([str(BIN), "serve", "--host", HOST, "--port", str(port)], env,
                workdir / f"serve-{port}.log", f"http://{HOST}:{port}/v1/health", cwd=workdir)
    proc.port = port  # type: ignore[attr-defined]
    return proc


def sim_vllm(workdir: Path, *, latency_ms: float, capacity: int) -> Proc:
    port = free_port()
    argv = [sys.executable, "-m", "bench.sim_vllm", "--port", str(port),
            "--latency-ms", str(latency_ms), "--capacity", str(capacity)]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = Proc(argv, env, workdir / f"sim-vllm-{port}.log", f"http://{HOST}:{port}/health",
                cwd=REPO)
    proc.port = port  # type: ignore[attr-defined]
    return proc


def workdir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"ocr-bench-{prefix}-")


def small_png(size: tuple[int, int] = (320, 240), seed: int = 0) -> bytes:
    """A small real PNG that looks a little like a receipt (lines of dark marks on white)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for y in range(10, size[1] - 10, 14):
        draw.text((10, y), f"ITEM {rng.randint(1, 99):02d} .... {rng.randint(1, 9999) / 100:.2f}",
                  fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def noise_png(target_bytes: int, seed: int) -> bytes:
    """A real, decodable PNG of random noise of about ``target_bytes`` (noise barely compresses)."""
    from PIL import Image

    side = int((target_bytes / 3) ** 0.5)
    raw = random.Random(seed).randbytes(side * side * 3)
    buf = io.BytesIO()
    Image.frombytes("RGB", (side, side), raw).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def summarize_ms(values_s: list[float]) -> dict[str, float]:
    values = sorted(v * 1000 for v in values_s)
    return {"p50": round(percentile(values, 0.5), 2), "p90": round(percentile(values, 0.9), 2),
            "p99": round(percentile(values, 0.99), 2),
            "max": round(values[-1], 2) if values else float("nan")}
