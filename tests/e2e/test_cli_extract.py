"""`ocr-orchestrator extract` runs a batch without a server and writes a run the API serves."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, cli, create_key

pytestmark = pytest.mark.e2e


def test_cli_extract_writes_a_run_like_the_http_batch(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    images = tmp_path / "scans"
    (images / "nested").mkdir(parents=True)
    for name in ("b.png", "a.jpg", "nested/c.png"):
        fmt = "JPEG" if name.endswith(".jpg") else "PNG"
        (images / name).write_bytes(image_bytes(fmt, (40, 30)))
    (images / "readme.txt").write_text("not an image")
    result = cli(env, "extract", str(images), "--task", "receipt_v1", "--run-id", "cli-run-1", "--concurrency", "2")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["run_id"] == "cli-run-1" and summary["item_count"] == summary["ok_count"] == 3
    assert "3/3" in result.stderr  # the progress bar reached the end

    again = cli(env, "extract", str(images), "--task", "receipt_v1", "--run-id", "cli-run-1")
    assert again.returncode == 1 and "already exists" in again.stderr
    missing = cli(env, "extract", str(tmp_path / "nope"), "--task", "receipt_v1")
    assert missing.returncode == 1 and "no such file" in missing.stderr

    admin = create_key(env, "admin-cli", "admin")
    with ServiceProcess(env, tmp_path) as service:
        run = httpx.get(f"{service.base_url}/v1/runs/cli-run-1", headers={"X-API-Key": admin}).json()
        assert [i["file"] for i in run["items"]] == ["a.jpg", "b.png", "nested/c.png"]
        assert run["auth"]["key_id"] == "cli"
        listed = httpx.get(f"{service.base_url}/v1/runs", headers={"X-API-Key": admin}).json()["items"]
        assert listed[0]["run_id"] == "cli-run-1" and listed[0]["item_count"] == 3


def test_cli_eval_prints_the_report_and_stores_it(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    images = tmp_path / "scans"
    images.mkdir()
    for name in ("a.png", "b.png"):
        (images / name).write_bytes(image_bytes("PNG", (40, 30)))
    run = json.loads(cli(env, "extract", str(images), "--task", "receipt_fields_v1", "--run-id", "cli-eval",
                         "--json").stdout)
    truth = [{"file": i["file"], **i["parsed"]} for i in run["items"]]
    truth[1]["total"] = "999.99"  # one known difference
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(truth))
    result = cli(env, "eval", "cli-eval", str(gt_file))
    assert result.returncode == 0, result.stderr
    assert "STRICT" in result.stdout and "NORMALISED" in result.stdout and "exact match: 1/2" in result.stdout
    total_rows = [line for line in result.stdout.splitlines() if line.startswith("total ")]
    assert len(total_rows) == 2 and all(" 0.5000" in row for row in total_rows)
    assert list((tmp_path / "artifacts" / "evals").rglob("*.json"))
    assert cli(env, "eval", "no-such-run", str(gt_file)).returncode == 1
