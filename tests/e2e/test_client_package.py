"""``pip install ./ocr_client`` in a clean virtualenv (issue 14, ADR 0096): the client installs
alone — from its own ``pyproject.toml``, with only httpx and msgspec — and the README's client
snippet runs as written against a started service."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_serve import base_env
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8080"


def readme_client_snippet() -> str:
    """The first ``python`` block of the README's "### Python client" section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Python client", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block under '### Python client'"
    return match.group(1)


def clean_env() -> dict[str, str]:
    """The environment without the test run's own virtualenv or import paths."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``pip install ./ocr_client`` run from a copy of the client's folder
    (a real build through the configured index, so nothing is written into the repository)."""
    work = tmp_path_factory.mktemp("client-venv")
    shutil.copytree(REPO / "ocr_client", work / "ocr_client",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60, env=clean_env())
    python = venv / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "./ocr_client"],
        cwd=work, env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return python


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    tmp = tmp_path_factory.mktemp("client-package-serve")
    env = {**base_env(tmp), "LOG_LEVEL": "WARNING"}
    key = create_key(env, "admin-client-package", "admin")
    with ServiceProcess(env, tmp) as running:
        yield running, key


def run_in(python: Path, code: str, *, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # -I: the repository (cwd) is not on sys.path, so only the venv's install can be imported.
    return subprocess.run([str(python), "-I", "-c", code], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_the_client_installs_alone_with_only_httpx_and_msgspec(client_venv: Path) -> None:
    code = (
        "import importlib.metadata as md, importlib.util as u, ocr_client\n"
        "print(ocr_client.__file__)\n"
        "print(sorted(r.split(';')[0].split('>')[0].strip() for r in md.requires('ocr-orchestrator-client')))\n"
        "print([m for m in ('litestar', 'sqlalchemy', 'aiobotocore', 'entrypoints', 'domain')"
        " if u.find_spec(m)])\n"
    )
    result = run_in(client_venv, code, cwd=client_venv.parents[1])
    assert result.returncode == 0, result.stderr
    where, requires, service_modules = result.stdout.splitlines()
    assert "site-packages" in where
    assert requires == "['httpx', 'msgspec']"
    assert service_modules == "[]"


def test_the_readme_client_snippet_runs_in_the_clean_venv(
    client_venv: Path, service: tuple[ServiceProcess, str],
) -> None:
    running, key = service
    snippet = readme_client_snippet()
    assert README_URL in snippet
    code = f"KEY = {key!r}\n" + snippet.replace(README_URL, running.base_url)
    result = run_in(client_venv, code, cwd=REPO)  # the README's paths are relative to the repo root
    assert result.returncode == 0, f"README client snippet failed:\n{result.stderr}"
    assert result.stdout.strip(), "the snippet prints the batch's ok count and the runs"
