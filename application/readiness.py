"""Readiness: probe each dependency concurrently with a deadline (SPEC §10)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from domain.errors import DomainError

# A probe raises when its dependency is not ready; it may return facts worth showing (for
# instance the Celery workers it saw), which join the component's status.
Probe = Callable[[], Awaitable[Mapping[str, Any] | None]]


async def check_readiness(probes: Mapping[str, Probe], timeout_s: float = 3.0) -> tuple[bool, dict[str, Any]]:
    async def run(name: str, probe: Probe) -> tuple[str, dict[str, Any]]:
        started = time.perf_counter()
        try:
            facts = await asyncio.wait_for(probe(), timeout_s)
            status: dict[str, Any] = {"ok": True, **(facts or {})}
        except TimeoutError:
            status = {"ok": False, "error": f"no answer within {timeout_s:g}s"}
        except DomainError as exc:
            status = {"ok": False, "error": exc.code, "message": exc.message}
            if "workers" in exc.details:
                status["workers"] = exc.details["workers"]
        except Exception as exc:  # noqa: BLE001 - a probe must never crash readiness
            status = {"ok": False, "error": type(exc).__name__}
        status["duration_ms"] = int((time.perf_counter() - started) * 1000)
        return name, status

    results = dict(await asyncio.gather(*(run(n, p) for n, p in probes.items())))
    return all(r["ok"] for r in results.values()), results
