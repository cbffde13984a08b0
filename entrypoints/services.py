"""The resolved, selected services one process runs with (built from the container)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from application.analyze_site import SiteAnalyzer
from application.artifacts import ArtifactReader
from application.authenticate import Authenticator
from application.batch_plans import BatchPlanner
from application.batches import BatchRunner
from application.billing import BillingService
from application.evaluation import Evaluator
from application.extract import Extractor
from application.ground_truths import GroundTruthStore
from application.inference_limit import ConcurrencyLimitedInference
from application.inputs import InputStore
from application.job_execution import JobExecutor
from application.jobs import JobService
from application.live_uploads import LiveUploads
from application.ports.api_keys import ApiKeyStore
from application.ports.jobs import JobQueue, JobStore
from application.readiness import Probe
from application.run_export import RunExporter
from domain.receipts.tasks import TaskRegistry
from entrypoints.settings import Settings


def package_version() -> str:
    try:
        return version("ocr-orchestrator")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+src"


@dataclass
class Services:
    settings: Settings
    authenticator: Authenticator
    api_keys: ApiKeyStore
    extractor: Extractor
    artifacts: ArtifactReader
    tasks: TaskRegistry
    inference: ConcurrencyLimitedInference
    inputs: InputStore
    planner: BatchPlanner
    batch_runner: BatchRunner
    jobs: JobService
    job_store: JobStore
    job_queue: JobQueue
    executor: JobExecutor
    analyzer: SiteAnalyzer
    billing: BillingService
    ground_truths: GroundTruthStore
    evaluator: Evaluator
    exporter: RunExporter
    telemetry: Any
    live_uploads: LiveUploads | None = None  # the local runner only (ADR 0051)
    readiness_probes: dict[str, Probe] = field(default_factory=dict)
    version: str = field(default_factory=package_version)


async def resolve(value: Any) -> Any:
    """Providers that depend on async resources return awaitables; the rest return values."""
    return await value if inspect.isawaitable(value) else value
