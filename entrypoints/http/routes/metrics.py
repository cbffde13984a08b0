"""GET /metrics in the Prometheus text format (SPEC §10)."""

from __future__ import annotations

from litestar import Request, Response, get


@get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=True, media_type="text/plain")
async def metrics(request: Request) -> Response[bytes]:
    services = request.app.state.services
    services.telemetry.jobs_by_state(await services.job_store.counts_by_status())
    return Response(services.telemetry.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
