"""scripts/run.sh in a scratch copy of the repo: it installs only when pyproject.toml changed
(pip is a stand-in that records its calls), makes the admin key once (mode 600 under var/),
prints it again on the next start, makes another with --new-key, and starts with DEBUG_MODE=1.
`--no-serve` stops it before `serve`, so nothing listens and nothing is downloaded."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import BIN

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("scripts/run.sh", "scripts/bootstrap.sh", "pyproject.toml", "ocr_client/pyproject.toml"):
        if (REPO / name).exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, root / name)
    venv_bin = root / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"
    python.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*" >> "$PIP_CALLS"; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (venv_bin / "ocr-orchestrator").symlink_to(BIN)
    return root


def run_sh(repo: Path, *args: str) -> tuple[str, list[str]]:
    calls = repo / "pip-calls.txt"
    calls.write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "PIP_CALLS": str(calls), "LOG_LEVEL": "WARNING"}
    result = subprocess.run(["bash", "scripts/run.sh", "--no-serve", *args], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, calls.read_text().splitlines()


def printed_key(output: str) -> str:
    lines = output.splitlines()
    return lines[lines.index(next(line for line in lines if line.startswith("Admin API key"))) + 1].strip()


def active_keys(repo: Path) -> list[str]:
    listed = subprocess.run([str(BIN), "keys", "list"], cwd=repo, capture_output=True, text=True, check=True,
                            env={**os.environ, "AUTH_DB_PATH": "", "DATABASE_URL": "", "PEPPER_FILE": ""})
    return [row["key_id"] for row in map(json.loads, listed.stdout.splitlines()) if row["is_active"]]


def test_run_sh_installs_once_keeps_its_key_and_starts_in_debug_mode(repo: Path) -> None:
    first, pip = run_sh(repo)
    assert "installing into .venv" in first and any("install" in call and "-e" in call for call in pip)
    key = printed_key(first)
    key_file = repo / "var" / "secrets" / "admin-api-key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "DEBUG_MODE=1: debug routes" in first and "DATA_ROOT=examples/data" in first

    second, pip = run_sh(repo)
    assert pip == [], "a second start with an unchanged pyproject.toml must not call pip"
    assert "nothing to install" in second
    assert printed_key(second) == key and len(active_keys(repo)) == 1

    third, pip = run_sh(repo, "--new-key")
    assert pip == [] and printed_key(third) not in ("", key)
    assert key_file.read_text().strip() == printed_key(third)
    assert len(active_keys(repo)) == 2 and "stays valid until" in third

    with (repo / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    fourth, pip = run_sh(repo)
    assert pip and "installing into .venv" in fourth
    assert printed_key(fourth) == printed_key(third)


def test_run_sh_respects_debug_mode_from_dotenv(repo: Path) -> None:
    (repo / ".env").write_text("DEBUG_MODE=0\n")
    output, _ = run_sh(repo)
    assert "DEBUG_MODE=0" in output and "debug routes" not in output


def test_run_sh_refuses_an_unknown_argument(repo: Path) -> None:
    result = subprocess.run(["bash", "scripts/run.sh", "--bogus"], cwd=repo, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 2 and "unknown argument" in result.stderr
