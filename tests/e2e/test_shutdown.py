"""SIGTERM: the server stops accepting and finishes in-flight sync requests within the grace
period. Running batch jobs go back to the queue and resume at the next start: see
test_restarts.py."""

from __future__ import annotations

import base64
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.images import image_bytes
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e


def test_sigterm_finishes_a_slow_sync_extract(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    key = create_key(env, "graceful", "client")
    service = ServiceProcess(env, tmp_path).start()
    result: dict[str, Any] = {}
    body = {"task_id": "receipt_fields_v1", "mime_type": "image/png", "request_id": "mock_slow_2500_graceful",
            "image_base64": base64.b64encode(image_bytes()).decode()}

    def call() -> None:
        r = httpx.post(f"{service.base_url}/v1/extract", headers={"X-API-Key": key}, json=body, timeout=30)
        result["status"], result["body"] = r.status_code, r.json()

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.8)  # the request is inside the model call now
    service.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):  # no longer accepting
        httpx.get(f"{service.base_url}/v1/health", timeout=2)
    caller.join(20)
    assert result["status"] == 200 and result["body"]["error"] is None
    assert service.proc.wait(20) == 0
    assert (tmp_path / "artifacts" / result["body"]["artifact_rel"]).is_file()
