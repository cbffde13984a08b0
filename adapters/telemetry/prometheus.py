"""Prometheus metrics (SPEC §10) with the official client library. One registry per service
instance, so several apps in one process (tests) never collide. Labels stay bounded: route
templates, status codes, error codes from a fixed set, storage operation names."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from domain.jobs import JobStatus

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180)


class PrometheusTelemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._http_requests = Counter("ocr_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self._http_latency = Histogram("ocr_http_request_duration_seconds", "HTTP request latency",
                                       ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r)
        self._model_calls = Counter("ocr_model_calls", "Model calls by outcome", ["outcome"], registry=r)
        self._model_latency = Histogram("ocr_model_call_duration_seconds", "Model call latency (all attempts)",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self._model_in_flight = Gauge("ocr_model_calls_in_flight", "Model calls in flight", registry=r)
        self._batch_items = Counter("ocr_batch_items_processed", "Batch items processed", ["outcome"], registry=r)
        self._storage_ops = Counter("ocr_storage_operations", "Blob storage operations", ["op", "outcome"], registry=r)
        self._storage_latency = Histogram("ocr_storage_operation_duration_seconds", "Blob storage latency", ["op"],
                                          buckets=_LATENCY_BUCKETS, registry=r)
        self._jobs = Gauge("ocr_jobs", "Jobs by state (read from the job store at scrape time)", ["state"],
                           registry=r)

    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        self._http_requests.labels(method, route, str(status)).inc()
        self._http_latency.labels(method, route).observe(duration_s)

    def model_call(self, duration_s: float, error_code: str | None) -> None:
        self._model_calls.labels(error_code or "ok").inc()
        self._model_latency.observe(duration_s)

    def model_in_flight(self, delta: int) -> None:
        self._model_in_flight.inc(delta)

    def batch_item(self, ok: bool) -> None:
        self._batch_items.labels("ok" if ok else "error").inc()

    def storage_op(self, op: str, ok: bool, duration_s: float) -> None:
        self._storage_ops.labels(op, "ok" if ok else "error").inc()
        self._storage_latency.labels(op).observe(duration_s)

    def jobs_by_state(self, counts: dict[str, int]) -> None:
        for state in JobStatus:
            self._jobs.labels(state.value).set(counts.get(state.value, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
