"""The Litestar application: ``create_app(container)`` and the ASGI entry ``build_app()``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from application.artifacts import ArtifactReader
from application.extract import Extractor
from entrypoints.container import Container, build_container, close_services, open_services
from entrypoints.http.auth import provide_principal
from entrypoints.http.errors import EXCEPTION_HANDLERS
from entrypoints.http.middleware import RequestContextMiddleware
from entrypoints.http.routes import artifacts, extract, health, me
from entrypoints.logs import configure_logging, register_secret
from entrypoints.services import package_version
from entrypoints.settings import load_settings

ROUTES = [
    health.health, health.ready, me.me, me.tasks, extract.extract,
    artifacts.run_item, artifacts.list_artifacts, artifacts.read_artifact, artifacts.read_raw,
]


async def provide_extractor(request: Request) -> Extractor:
    return request.app.state.services.extractor


async def provide_artifacts(request: Request) -> ArtifactReader:
    return request.app.state.services.artifacts


def create_app(container: Container) -> Litestar:
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.services = await open_services(container)
        try:
            yield
        finally:
            await close_services(container)

    app = Litestar(
        route_handlers=ROUTES,
        dependencies={
            "principal": Provide(provide_principal),
            "extractor": Provide(provide_extractor),
            "artifacts": Provide(provide_artifacts),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=settings.max_request_bytes,
        openapi_config=OpenAPIConfig(
            title="OCR Orchestrator", version=package_version(), path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
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
