"""One heavy request leaves the event loop free (issue 12): a 6 MB site text through
`/v1/analyze/json` with the default mock, while `/v1/health` is asked again and again."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import base_env
from tests.support.process import ServiceProcess, create_key

pytestmark = pytest.mark.e2e

SENTENCE = "Завод выпускает стальные трубы и арматуру. Оборудование: трубосварочный стан. "


def test_a_six_megabyte_site_text_does_not_stall_other_requests(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "LOG_LEVEL": "WARNING"}
    key = create_key(env, "long-text", "client")
    text = (SENTENCE * (6_000_000 // len(SENTENCE) + 1))[:6_000_000]
    outcome: dict[str, Any] = {}
    with ServiceProcess(env, tmp_path) as service, httpx.Client(base_url=service.base_url, timeout=120) as http:
        def analyze() -> None:
            started = time.monotonic()
            r = http.post("/v1/analyze/json", headers={"X-API-Key": key},
                          json={"text_par": text, "pars_id": 1, "company_name": "ТрубСталь", "okved": "24.20"})
            outcome.update(status=r.status_code, body=r.json(), took=time.monotonic() - started)

        worker = threading.Thread(target=analyze)
        worker.start()
        slowest, answered = 0.0, 0
        with httpx.Client(base_url=service.base_url, timeout=30) as probe:
            while worker.is_alive():
                asked = time.monotonic()
                assert probe.get("/v1/health").status_code == 200
                slowest = max(slowest, time.monotonic() - asked)
                answered += 1
                time.sleep(0.05)
        worker.join()
    assert outcome["status"] == 200, outcome["body"]
    assert outcome["body"]["db_payload"]["llm_answer"]
    assert answered >= 2, "the analysis ended before health was asked twice; nothing was measured"
    # Before: the whole analysis ran on the event loop and health waited ~15 s behind it.
    assert slowest < 1.0, (slowest, outcome["took"])
