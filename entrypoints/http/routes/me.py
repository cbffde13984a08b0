"""Who am I: the caller's key id, role and scopes."""

from __future__ import annotations

from litestar import Request, get
from litestar.di import NamedDependency

from domain.auth import Principal
from entrypoints.http.openapi import AUTH, KEY, errors
from entrypoints.http.schemas import MeOut, TaskOut, TasksOut


@get("/v1/me", tags=["auth"], summary="The calling key", responses=errors(*AUTH), security=KEY)
async def me(principal: NamedDependency[Principal]) -> MeOut:
    return MeOut(key_id=principal.key_id, role=principal.role, scopes=list(principal.scopes),
                 auth_enabled=principal.auth_enabled)


@get("/v1/tasks", tags=["extract"], summary="Extraction tasks", responses=errors(*AUTH), security=KEY)
async def tasks(request: Request, principal: NamedDependency[Principal]) -> TasksOut:
    registry = request.app.state.services.tasks
    return TasksOut(items=[TaskOut(task_id=t.task_id, description=t.description) for t in registry.list()])
