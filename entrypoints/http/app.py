"""The Litestar application: ``create_app(container)`` and the ASGI entry ``build_app()``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from entrypoints.container import (
    Container,
    build_container,
    close_services,
    open_services,
    start_job_runner,
    stop_job_runner,
)
from entrypoints.http.allow import with_options
from entrypoints.http.auth import authenticate_first, provide_principal
from entrypoints.http.errors import EXCEPTION_HANDLERS
from entrypoints.http.explorer import explorer_assets, explorer_plugins
from entrypoints.http.middleware import RequestContextMiddleware
from entrypoints.http.openapi import SECURITY_COMPONENTS
from entrypoints.http.request import ClientRequest
from entrypoints.http.routes import (
    artifacts,
    batches,
    evaluation,
    extract,
    health,
    jobs,
    me,
    metrics,
    runs,
    site,
)
from entrypoints.http.strict_body import check_body_types
from entrypoints.logs import configure_logging, register_secret
from entrypoints.runtime import tune_gc
from entrypoints.services import package_version
from entrypoints.settings import load_settings

ROUTES = [
    health.health, health.ready, metrics.metrics, me.me, me.tasks, extract.extract, extract.extract_async,
    batches.batch_extract, batches.batch_extract_async, batches.batch_extract_upload,
    batches.batch_extract_upload_async, batches.batch_extract_rerun, batches.batch_extract_rerun_async,
    jobs.get_job, jobs.job_result, jobs.cancel_job, jobs.list_jobs, runs.list_runs, runs.get_run,
    artifacts.run_item,
    site.analyze, site.billing_remaining,
    evaluation.create_ground_truth, evaluation.list_ground_truths, evaluation.get_ground_truth,
    evaluation.replace_ground_truth, evaluation.delete_ground_truth, evaluation.ground_truth_from_run,
]
# With DEBUG_MODE=0 these routes do not exist at all: not routed (a plain 404 before any input
# is looked at) and not in the OpenAPI document.
DEBUG_ROUTES = [
    artifacts.list_artifacts, artifacts.read_artifact, artifacts.read_raw,
    evaluation.eval_batch_vs_gt, evaluation.export_run,
]

# Handlers receive use cases by name; each comes from the services the lifespan resolved.
USE_CASES = ("extractor", "artifacts", "jobs", "planner", "batch_runner", "inputs", "analyzer", "billing",
             "ground_truths", "evaluator", "exporter")


def _provider(name: str) -> Provide:
    async def provide(request: Request) -> Any:
        return getattr(request.app.state.services, name)

    return Provide(provide)


def create_app(container: Container) -> Litestar:
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = await open_services(container)
        app.state.services = services
        await start_job_runner(services)
        tune_gc()
        try:
            yield
        finally:
            await stop_job_runner(services)
            await close_services(container)

    app = Litestar(
        route_handlers=[*with_options([*ROUTES, *(DEBUG_ROUTES if settings.debug_mode else [])]), explorer_assets()],
        dependencies={
            "principal": Provide(provide_principal),
            **{name: _provider(name) for name in USE_CASES},
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=check_body_types,
        guards=[authenticate_first],
        lifespan=[lifespan],
        request_max_body_size=settings.max_request_bytes,
        request_class=ClientRequest,
        openapi_config=OpenAPIConfig(
            title="OCR Orchestrator", version=package_version(), path="/schema", components=SECURITY_COMPONENTS,
            render_plugins=explorer_plugins(),
        ),
        logging_config=None,
    )
    # Route-level middleware never sees unknown routes (404) or wrong methods (405);
    # wrapping the outermost handler gives every response its request id and logs.
    app.asgi_handler = RequestContextMiddleware(app.asgi_handler)
    return app


def build_app() -> Litestar:
    """ASGI entry: settings → container → app. Reads the environment when called, not on import."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    for secret in (settings.vllm_api_key, settings.openai_api_key, settings.openai_admin_key,
                   settings.aws_secret_access_key, settings.api_key_pepper):
        register_secret(secret)
    return create_app(build_container(settings))
