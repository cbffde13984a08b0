"""Liveness and readiness (SPEC §10); no auth, no upstream calls for liveness."""

from __future__ import annotations

from litestar import Request, Response, get

from application.readiness import check_readiness
from entrypoints.http.openapi import errors
from entrypoints.http.schemas import ComponentOut, HealthOut, ReadyOut


@get(["/health", "/v1/health"], tags=["health"], summary="Liveness", responses=errors())
async def health(request: Request) -> HealthOut:
    services = request.app.state.services
    s = services.settings
    return HealthOut(
        ok=True, version=services.version, auth_enabled=s.auth_enabled, debug_mode=s.debug_mode,
        inference_backend=s.inference_backend, model=services.inference.model_id, jobs_backend=s.jobs_backend,
        storage=s.storage_backend,
    )


@get("/v1/ready", tags=["health"], summary="Readiness of every dependency", responses=errors(503))
async def ready(request: Request) -> Response[ReadyOut]:
    ok, results = await check_readiness(request.app.state.services.readiness_probes)
    body = ReadyOut(ok=ok, components={name: ComponentOut(**r) for name, r in results.items()})
    return Response(body, status_code=200 if ok else 503)
