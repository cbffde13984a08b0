"""``/v1/ready`` with JOBS_BACKEND=celery reports the workers consuming the queue (issue 14):
not ready while none answers, ready with their names once one runs, not ready again after it
stops — against a real ``ocr-orchestrator worker`` and Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.process import ServiceProcess
from tests.support.worker_process import WorkerProcess

pytestmark = [pytest.mark.e2e, pytest.mark.services]

CACHE_S = 5.0  # CeleryJobQueue caches the workers it saw this long


def ready_until(http: httpx.Client, done: Callable[[httpx.Response], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + CACHE_S + 10
    while True:
        ready = http.get("/v1/ready")
        if done(ready):
            return ready.json()
        assert time.monotonic() < deadline, f"/v1/ready never {what}: {ready.text}"
        time.sleep(0.5)


def test_readiness_follows_the_workers_consuming_the_queue(tmp_path: Path, redis_url: str) -> None:
    queue = f"e2e-ready-{uuid.uuid4().hex[:12]}"  # workers of other sessions consume other queues
    env = {**base_env(tmp_path), "JOBS_BACKEND": "celery", "CELERY_BROKER_URL": redis_url,
           "CELERY_QUEUE": queue, "LOG_LEVEL": "WARNING"}
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=30) as http:
        started = time.monotonic()
        none = http.get("/v1/ready")
        assert time.monotonic() - started < 3, "readiness stays cheap without workers"
        components = none.json()["components"]
        assert none.status_code == 503 and components["broker"]["ok"] is True
        workers = components["workers"]
        assert workers["ok"] is False and workers["workers"] == [], workers
        assert queue in workers["message"] and "ocr-orchestrator worker" in workers["message"]

        worker = WorkerProcess({**env, "LOG_LEVEL": "INFO"}, tmp_path).start()
        try:
            seen = ready_until(http, lambda r: r.status_code == 200, "turned ready with a worker")
            assert seen["ok"] is True
            names = seen["components"]["workers"]["workers"]
            assert len(names) == 1 and names[0].startswith("ocr-worker-"), seen
            again = time.monotonic()
            assert http.get("/v1/ready").json()["components"]["workers"]["workers"] == names
            assert time.monotonic() - again < 0.5, "a second look within the cache asks nobody"
        finally:
            assert worker.stop() == 0

        gone = ready_until(http, lambda r: r.status_code == 503, "turned unready after the worker stopped")
        assert gone["components"]["workers"]["workers"] == []
