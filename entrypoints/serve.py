"""``ocr-orchestrator serve``: uvicorn running ``build_app`` with graceful shutdown."""

from __future__ import annotations

import uvicorn

from entrypoints.logs import configure_logging
from entrypoints.settings import Settings

GRACEFUL_SHUTDOWN_S = 30


def serve(settings: Settings, *, host: str | None, port: int | None, workers: int = 1) -> int:
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "entrypoints.http.app:build_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )
    return 0
