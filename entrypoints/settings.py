"""All configuration, read from the environment (and a ``.env`` file) in one place (SPEC §3).

Empty values mean "unset". This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from dotenv import dotenv_values

MiB = 1024 * 1024


class SettingsError(ValueError):
    """A variable holds a value the service cannot use; the message names it."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    inference_backend: str = "mock"
    vllm_base_url: str = "http://127.0.0.1:8000/v1"
    vllm_api_key: str = ""
    vllm_model: str = "Qwen/Qwen3-VL-8B-Instruct"
    vllm_connect_timeout_s: float = 10.0
    vllm_read_timeout_s: float = 180.0
    vllm_write_timeout_s: float = 30.0
    vllm_pool_timeout_s: float = 10.0
    vllm_call_timeout_s: float = 300.0  # deadline of one model call attempt, on top of the read timeout
    vllm_http_max_connections: int = 100
    vllm_http_max_keepalive: int = 20
    vllm_http_keepalive_expiry_s: float = 30.0
    vllm_retry_max_attempts: int = 3
    vllm_temperature: float = 0.0
    vllm_max_tokens: int = 1024
    vllm_max_tokens_limit: int = 8192
    vllm_max_model_len: int = 4096
    vllm_response_format: str = "json_schema"
    inference_max_concurrency: int = 32
    mock_latency_ms: int = 0

    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    chat_model: str = "gpt-4o"
    openai_embed_model: str = "text-embedding-3-large"
    openai_admin_key: str = ""
    billing_monthly_limit_usd: float | None = None
    billing_prepaid_credits_usd: float | None = None
    billing_costs_base_url: str = "https://api.openai.com/v1"
    billing_summary_cache_ttl_sec: int = 300
    openai_embed_base_url: str | None = None  # when embeddings live on another server (default OPENAI_BASE_URL)
    chat_max_tokens: int | None = None  # cap on the answer length; unset = the model's default
    openai_timeout_s: float = 60.0
    openai_retry_max_attempts: int = 3
    prodclass_guess_min: float = 0.3
    prodclass_override_min: float = 0.55
    prodclass_override_margin: float = 0.1
    prodclass_name_match_ratio: float = 0.55
    catalog_match_min: float = 0.45

    s3_bucket: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "auto"
    s3_prefix: str = "prod"
    s3_force_path_style: bool = False
    s3_allow_overwrite: bool = False
    s3_create_bucket: bool = False  # create S3_BUCKET at startup when it does not exist
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    artifacts_dir: str = "./var/artifacts"
    storage_min_free_mb: int = 100  # local storage: below this much free space writes and /v1/ready fail (retryable)
    data_root: str = "./var/data"

    database_url: str | None = None
    jobs_db_path: str = "./var/db/jobs.db"
    auth_db_path: str = "./var/db/auth.db"
    # PostgreSQL connections per process; unset = INFERENCE_MAX_CONCURRENCY + JOBS_MAX_CONCURRENCY (ADR 0043)
    database_pool_size: int | None = None
    jobs_backend: str = "local"
    jobs_max_concurrency: int = 2
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_result_backend: str | None = None
    celery_queue: str = "ocr-jobs"
    jobs_heartbeat_s: float = 10.0  # a running job refreshes updated_at this often (ADR 0005)
    jobs_stale_after_s: float = 120.0  # a running job whose heartbeat is older is taken back (requeued)
    jobs_max_attempts: int = 3  # starts of one job; the start after the last only salvages what finished
    outage_max_wait_s: float = 300.0  # how long a batch waits out a storage or model-server outage

    auth_enabled: bool = True
    api_key_pepper: str | None = None
    pepper_file: str = "./var/secrets/pepper"
    host: str = "127.0.0.1"
    port: int = 8080
    debug_mode: bool = False
    log_level: str = "INFO"
    log_format: str = "json"
    tasks_dir: str | None = None

    max_image_bytes: int = 15 * MiB
    max_batch_files: int = 1000
    max_request_bytes: int = 64 * MiB
    max_input_bytes_per_owner: int = 10 * 1024 * MiB  # stored inputs one key may keep; 0 = no limit

    @property
    def storage_backend(self) -> str:
        return "s3" if self.s3_bucket else "local"

    @property
    def store_backend(self) -> str:
        return "postgres" if (self.database_url or "").startswith("postgresql") else "sqlite"

    @property
    def jobs_db_url(self) -> str:
        return self.database_url or _sqlite_url(self.jobs_db_path)

    @property
    def auth_db_url(self) -> str:
        return self.database_url or _sqlite_url(self.auth_db_path)

    def public_view(self) -> dict[str, Any]:
        """Settings safe to log: secrets masked."""
        masked = {"vllm_api_key", "openai_api_key", "openai_admin_key", "aws_secret_access_key", "api_key_pepper"}
        out = msgspec.structs.asdict(self)
        for name in masked:
            if out.get(name):
                out[name] = "***"
        if out.get("database_url"):
            out["database_url"] = _mask_url_password(out["database_url"])
        return out


def _sqlite_url(path: str) -> str:
    return f"sqlite+aiosqlite:///{Path(path).expanduser().resolve()}"


def _mask_url_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, raw: str, target: Any) -> Any:
    kinds = set(getattr(target, "__args__", (target,))) - {type(None)}
    kind = next(iter(kinds)) if len(kinds) == 1 else str
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw.strip())
        if kind is float:
            return float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name.upper()} must be a {kind.__name__}, got an unusable value") from None
    return raw.strip()


_CHOICES = {
    "inference_backend": {"mock", "vllm"},
    "jobs_backend": {"local", "celery"},
    "log_format": {"json", "text"},
    "vllm_response_format": {"json_schema", "json_object"},
}
_POSITIVE = (
    "inference_max_concurrency", "jobs_max_concurrency", "vllm_retry_max_attempts", "vllm_max_tokens",
    "vllm_max_tokens_limit", "vllm_max_model_len", "max_image_bytes", "max_batch_files", "max_request_bytes",
    "vllm_http_max_connections", "port", "jobs_max_attempts",
)


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv_path: str | None = ".env") -> Settings:
    """Build Settings from ``environ`` (default ``os.environ``) over values from ``dotenv_path``."""
    source: dict[str, str] = {}
    if dotenv_path and Path(dotenv_path).is_file():
        source.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    source.update(os.environ if environ is None else environ)
    hints = typing.get_type_hints(Settings)
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        raw = source.get(field.name.upper())
        if raw is None or raw.strip() == "":
            continue
        values[field.name] = _convert(field.name, raw, hints[field.name])
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    for name, allowed in _CHOICES.items():
        value = getattr(settings, name)
        if value not in allowed:
            raise SettingsError(f"{name.upper()} must be one of {sorted(allowed)}")
    for name in _POSITIVE:
        if getattr(settings, name) < 1:
            raise SettingsError(f"{name.upper()} must be at least 1")
    if settings.jobs_heartbeat_s <= 0:
        raise SettingsError("JOBS_HEARTBEAT_S must be positive")
    if settings.jobs_stale_after_s < 2 * settings.jobs_heartbeat_s:
        # A live job misses a beat now and then (a slow write); one miss must not fail it.
        raise SettingsError("JOBS_STALE_AFTER_S must be at least twice JOBS_HEARTBEAT_S")
    for name in ("vllm_call_timeout_s", "outage_max_wait_s"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{name.upper()} must be positive")
    if settings.max_input_bytes_per_owner < 0:
        raise SettingsError("MAX_INPUT_BYTES_PER_OWNER must not be negative")
    if settings.storage_min_free_mb < 0:
        raise SettingsError("STORAGE_MIN_FREE_MB must not be negative")
    if settings.mock_latency_ms < 0:
        raise SettingsError("MOCK_LATENCY_MS must not be negative")
    if settings.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise SettingsError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
