"""Scopes, fixed role presets, principals and key hashing (SPEC §5)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

import msgspec

from domain.errors import ForbiddenError, InvalidInputError


class Scope(StrEnum):
    EXTRACT_RUN = "extract:run"
    DEBUG_RUN = "debug:run"
    DEBUG_READ_RAW = "debug:read_raw"


class Role(StrEnum):
    CLIENT = "client"
    DEBUGGER = "debugger"
    ADMIN = "admin"


ROLE_PRESET_SCOPES: dict[Role, tuple[Scope, ...]] = {
    Role.CLIENT: (Scope.EXTRACT_RUN,),
    Role.DEBUGGER: (Scope.EXTRACT_RUN, Scope.DEBUG_RUN),
    Role.ADMIN: (Scope.EXTRACT_RUN, Scope.DEBUG_RUN, Scope.DEBUG_READ_RAW),
}

ANONYMOUS_KEY_ID = "anonymous"
ANONYMOUS_ROLE = "anonymous"


class Principal(msgspec.Struct, frozen=True):
    """Who is calling. ``auth_enabled=False`` means every scope check passes."""

    key_id: str
    role: str
    scopes: tuple[str, ...]
    auth_enabled: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def has_scope(self, scope: Scope | str) -> bool:
        return not self.auth_enabled or str(scope) in self.scopes

    def sees_everything(self) -> bool:
        """Admins (and the anonymous principal with auth off) see every owner's data."""
        return self.is_admin or not self.auth_enabled


ANONYMOUS = Principal(key_id=ANONYMOUS_KEY_ID, role=ANONYMOUS_ROLE, scopes=(), auth_enabled=False)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"unknown role {value!r}; one of: {allowed}") from None


def scopes_for(role: Role) -> tuple[str, ...]:
    return tuple(s.value for s in ROLE_PRESET_SCOPES[role])


def require_scopes(principal: Principal, *required: Scope) -> None:
    missing = [s.value for s in required if not principal.has_scope(s)]
    if missing:
        raise ForbiddenError(
            "the API key lacks a required scope",
            details={"required_scopes": [s.value for s in required]},
        )


def new_api_key() -> str:
    return secrets.token_urlsafe(32)


def hash_api_key(api_key: str, pepper: bytes) -> str:
    """HMAC-SHA256 hex of the key; keys are stored and compared by this hash only."""
    return hmac.new(pepper, api_key.encode("utf-8"), hashlib.sha256).hexdigest()


def can_see(principal: Principal, owner_key_id: str | None) -> bool:
    return principal.sees_everything() or owner_key_id == principal.key_id
