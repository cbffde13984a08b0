"""``ocr-orchestrator serve``: uvicorn running ``build_app`` with graceful shutdown."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import uvicorn

from entrypoints.logs import configure_logging
from entrypoints.settings import Settings, SettingsError

GRACEFUL_SHUTDOWN_S = 30


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def check_workers(settings: Settings, workers: int) -> None:
    """Several API processes need a shared queue: each uvicorn worker would run its own
    in-process job runner, and after a restart each would take the others' running jobs
    for its own (the CLI turns the error into exit code 2)."""
    if workers > 1 and settings.jobs_backend == "local":
        raise SettingsError(
            f"serve --workers {workers} needs JOBS_BACKEND=celery: with JOBS_BACKEND=local "
            "each worker process would run its own job runner and take the others' jobs "
            "for its own; run one process (--workers 1) or set JOBS_BACKEND=celery"
        )


def serve(settings: Settings, *, host: str | None, port: int | None, workers: int = 1) -> int:
    check_workers(settings, workers)
    configure_logging(settings.log_level, settings.log_format)
    # uvicorn drains in-flight requests on SIGTERM (up to the grace period), restores the
    # handler it found and raises the signal again: with this one the process then exits 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
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
        http="entrypoints.server_protocol:EnvelopeHttpToolsProtocol",  # parser refusals get the envelope
    )
    return 0
