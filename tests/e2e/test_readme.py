"""Every ```bash block of README.md runs as written against a started service.

The service is ``ocr-orchestrator serve`` as ``scripts/run.sh`` starts it (mock inference,
DEBUG_MODE=1, DATA_ROOT=examples/data) on a free port with its state in a scratch directory;
the blocks run in README order, from a directory that looks like the repo root (``examples``
and ``.venv`` linked in, ``var/`` the service's own), each with ``bash -euo pipefail``.
What the test changes in a block is only what the README tells a reader to do by hand:

* ``bash scripts/run.sh`` is the service this test already started;
* ``export KEY=…`` is the admin key run.sh would have printed (``$KEY`` in the environment);
* ``localhost:8080`` / ``127.0.0.1:8080`` is the test's port.

``curl`` is wrapped so an HTTP status of 400 or more fails the block (curl -s alone exits 0),
except 409, which the README shows on purpose (a finished job's cancel, a job's result while it
runs). A block that cannot run here is marked right before it with
``<!-- readme-test: skip (reason) -->``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MIN_RUN = 7  # the blocks that run today: a README that loses them fails here
MAX_SKIPS = 8

SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
BLOCK = re.compile(r"^```bash\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)

PRELUDE = r"""
curl() {
  local headers status rc=0
  headers=$(mktemp)
  command curl -D "$headers" "$@" || rc=$?
  status=$(awk '/^HTTP\//{code=$2} END{print code}' "$headers")
  rm -f "$headers"
  if [ "$rc" != 0 ]; then return "$rc"; fi
  if [ "${status:-0}" -ge 400 ] && [ "$status" != 409 ]; then
    echo "readme-test: HTTP $status from: curl $*" >&2
    return 22
  fi
}
"""


@dataclass
class Block:
    line: int
    body: str
    skip_reason: str | None


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        blocks.append(Block(line=text.count("\n", 0, match.start()) + 1, body=match.group("body"),
                            skip_reason=skip.group("reason").strip() if skip else None))
    return blocks


def as_run_here(body: str, port: int) -> str:
    lines = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("bash scripts/run.sh"):
            line = ": # scripts/run.sh: the service the test started"
        elif stripped.startswith("export KEY="):
            line = ": # export KEY=: the test's admin key is already in $KEY"
        lines.append(re.sub(r"\b(?:localhost|127\.0\.0\.1):8080\b", f"127.0.0.1:{port}", line))
    return "\n".join(lines) + "\n"


def test_the_readme_parses_into_blocks_with_reasons() -> None:
    blocks = readme_blocks(README.read_text())
    skipped = [b for b in blocks if b.skip_reason is not None]
    assert len(blocks) - len(skipped) >= MIN_RUN, "the README's runnable examples went missing"
    assert len(skipped) <= MAX_SKIPS, [b.line for b in skipped]
    assert all(len(b.skip_reason or "") >= 10 for b in skipped)


def test_every_readme_block_runs_as_written(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)
    var = work / "var"
    env = {
        "ARTIFACTS_DIR": str(var / "artifacts"), "JOBS_DB_PATH": str(var / "db" / "jobs.db"),
        "AUTH_DB_PATH": str(var / "db" / "auth.db"), "PEPPER_FILE": str(var / "secrets" / "pepper"),
        "DATA_ROOT": str(REPO / "examples" / "data"), "DEBUG_MODE": "1", "INFERENCE_BACKEND": "mock",
        "S3_BUCKET": "", "DATABASE_URL": "", "JOBS_BACKEND": "local", "AUTH_ENABLED": "1",
        "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json", "MOCK_LATENCY_MS": "0",
    }
    (var / "db").mkdir(parents=True)
    env["KEY"] = create_key(env, "readme-admin", "admin")
    blocks = readme_blocks(README.read_text())
    ran, skipped, failures = [], [], []
    with ServiceProcess(env, tmp_path) as service:
        for block in blocks:
            if block.skip_reason is not None:
                skipped.append(f"README.md:{block.line}: {block.skip_reason}")
                continue
            script = PRELUDE + as_run_here(block.body, service.port)
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work,
                                    env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
                                    check=False)
            ran.append(block.line)
            print(f"README.md:{block.line} exited {result.returncode}: {result.stdout[:1500]}")
            if result.returncode != 0:
                failures.append(f"README.md:{block.line} exited {result.returncode}\n--- block\n{block.body}"
                                f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
    print(f"README blocks: ran {len(ran)} (lines {ran}), skipped {len(skipped)}:", *skipped, sep="\n  ")
    assert not failures, "\n\n".join(failures)
    assert len(ran) >= MIN_RUN and len(skipped) <= MAX_SKIPS and all(s.split(": ", 1)[1] for s in skipped)
