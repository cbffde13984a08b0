from pathlib import Path

import pytest

from entrypoints.settings import Settings, SettingsError, load_settings


def test_no_environment_gives_the_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings({}, dotenv_path=None)
    assert s == Settings()
    assert s.inference_backend == "mock" and s.storage_backend == "local" and s.store_backend == "sqlite"
    assert s.jobs_db_url.startswith("sqlite+aiosqlite:///") and s.jobs_db_url.endswith("var/db/jobs.db")
    assert s.max_image_bytes == 15 * 1024 * 1024 and s.port == 8080 and s.auth_enabled


def test_empty_values_mean_unset() -> None:
    s = load_settings({"PORT": "", "S3_ENDPOINT_URL": "  ", "AUTH_ENABLED": "", "DATABASE_URL": ""}, dotenv_path=None)
    assert s.port == 8080 and s.s3_endpoint_url is None and s.auth_enabled and s.database_url is None


def test_values_are_typed_and_selectors_follow() -> None:
    s = load_settings({
        "PORT": "9001", "AUTH_ENABLED": "0", "S3_BUCKET": "b", "S3_FORCE_PATH_STYLE": "true",
        "DATABASE_URL": "postgresql+asyncpg://u:pw@db/x", "BILLING_MONTHLY_LIMIT_USD": "12.5",
        "INFERENCE_BACKEND": "vllm",
    }, dotenv_path=None)
    assert (s.port, s.auth_enabled, s.s3_force_path_style) == (9001, False, True)
    assert s.storage_backend == "s3" and s.store_backend == "postgres"
    assert s.jobs_db_url == s.auth_db_url == "postgresql+asyncpg://u:pw@db/x"
    assert s.billing_monthly_limit_usd == 12.5


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=7000\nLOG_LEVEL=DEBUG\nVLLM_MODEL=\n")
    s = load_settings({"PORT": "7001"}, dotenv_path=str(env_file))
    assert s.port == 7001 and s.log_level == "DEBUG" and s.vllm_model == "Qwen/Qwen3-VL-8B-Instruct"


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "eighty"), ("AUTH_ENABLED", "maybe"), ("INFERENCE_BACKEND", "gpt"), ("JOBS_BACKEND", "k8s"),
    ("INFERENCE_MAX_CONCURRENCY", "0"), ("LOG_LEVEL", "LOUD"),
])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value}, dotenv_path=None)


def test_public_view_masks_secrets() -> None:
    s = load_settings({"VLLM_API_KEY": "vk-secret", "AWS_SECRET_ACCESS_KEY": "aws-secret",
                       "DATABASE_URL": "postgresql+asyncpg://u:pw@db/x"}, dotenv_path=None)
    view = str(s.public_view())
    assert "vk-secret" not in view and "aws-secret" not in view and ":pw@" not in view
