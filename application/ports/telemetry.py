"""Telemetry port (SPEC §10): what the service counts. The core reports through it; an adapter
turns it into Prometheus metrics. ``NullTelemetry`` is the do-nothing default."""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None: ...

    def model_call(self, duration_s: float, error_code: str | None) -> None: ...

    def model_in_flight(self, delta: int) -> None: ...

    def batch_item(self, ok: bool) -> None: ...

    def storage_op(self, op: str, ok: bool, duration_s: float) -> None: ...

    def jobs_by_state(self, counts: dict[str, int]) -> None: ...


class NullTelemetry:
    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        return None

    def model_call(self, duration_s: float, error_code: str | None) -> None:
        return None

    def model_in_flight(self, delta: int) -> None:
        return None

    def batch_item(self, ok: bool) -> None:
        return None

    def storage_op(self, op: str, ok: bool, duration_s: float) -> None:
        return None

    def jobs_by_state(self, counts: dict[str, int]) -> None:
        return None
