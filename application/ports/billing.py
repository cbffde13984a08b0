"""Billing port: what the provider says was spent (SPEC §9.5)."""

from __future__ import annotations

from typing import Protocol


class CostsSource(Protocol):
    """Errors: ``UpstreamError`` / ``UpstreamTimeoutError`` / ``UpstreamUnavailableError``."""

    @property
    def configured(self) -> bool:
        """False when no admin key is set (the summary then says so instead of calling out)."""
        ...

    async def spent_usd(self, *, start_time: int, end_time: int | None, project_id: str | None) -> float:
        """Sum of costs from ``start_time`` (unix s), over every page."""
        ...
