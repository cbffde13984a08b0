"""The Celery application shared by the API (producer) and ``ocr-orchestrator worker``."""

from __future__ import annotations

from celery import Celery

EXECUTE_JOB_TASK = "ocr.execute_job"
JOBS_QUEUE = "ocr-jobs"


def make_celery_app(broker_url: str, result_backend: str | None = None, *, queue: str = JOBS_QUEUE) -> Celery:
    app = Celery("ocr_orchestrator", broker=broker_url, backend=result_backend or None)
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,  # a worker killed mid-job leaves the message for redelivery
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=result_backend is None,
        broker_connection_retry_on_startup=True,
        # Redelivery of a message whose worker died waits this long; the job itself is failed
        # earlier by the stale sweep and a late redelivery is skipped (ADR 0005, ADR 0050).
        broker_transport_options={"visibility_timeout": 3600},
        task_serializer="json",
        accept_content=["json"],
        # The worker logs JSON lines through the process's own logging (entrypoints.logs).
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return app
