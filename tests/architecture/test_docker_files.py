"""docker/: the image and the compose topologies stay consistent with the service (ADR 0090).

Static checks parse the files (PyYAML, a small Dockerfile reader) and need nothing else:
every variable set for the orchestrator is a ``Settings`` field, the image is non-root with
a liveness healthcheck, one image runs every role, the dev vLLM is a GPU service with the
flags the service relies on. ``docker compose config`` validates the files as compose sees
them when a compose client is installed (no Docker engine needed); otherwise it is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import grimp
import msgspec
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from entrypoints.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
COMPOSE_DEV = DOCKER / "compose.dev.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"

SETTINGS_ENV = {field.name.upper() for field in msgspec.structs.fields(Settings)}
ORCHESTRATOR_SERVICES = ("migrate", "api", "worker")
# Read by the Python interpreter, not by the service; the only non-Settings ENV allowed.
INTERPRETER_ENV = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
VLLM_MODEL = "Qwen/Qwen3-VL-8B-Instruct"
UID = "10001"

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# ----------------------------------------------------------------------------- helpers


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """Compose interpolation (``${X}``, ``${X:-d}``, ``${X-d}``, ``${X:?e}``, ``$$``) of parsed YAML."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = variables.get(name)
        unset = current is None or (current == "" and op is not None and op.startswith(":"))
        if op and op.endswith("?") and unset:
            raise AssertionError(f"required variable {name} unset: {arg}")
        if op and op.endswith("-") and unset:
            return arg
        return current or ""

    parts = value.split("$$")
    return "$".join(_INTERPOLATION.sub(one, part) for part in parts)


def merged_services(*paths: Path) -> dict[str, dict[str, Any]]:
    """Services after the override rules that matter here (mappings merge, the rest replaces)."""
    services: dict[str, dict[str, Any]] = {}
    for path in paths:
        for name, overlay in (load_yaml(path).get("services") or {}).items():
            base = services.setdefault(name, {})
            for key, value in overlay.items():
                if key == "environment":
                    base[key] = {**env_of(base), **env_of(overlay)}
                elif isinstance(value, dict) and isinstance(base.get(key), dict):
                    base[key] = {**base[key], **value}
                else:
                    base[key] = value
    return services


def interpolation_names(*paths: Path) -> set[str]:
    names: set[str] = set()
    for path in paths:
        text = path.read_text(encoding="utf-8").replace("$$", "")
        names |= {m.group(1) for m in _INTERPOLATION.finditer(text)}
    return names


class Instruction(msgspec.Struct, frozen=True):
    keyword: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    """Instructions per stage (continuation lines joined, comments dropped)."""
    logical: list[str] = []
    buffer = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append(buffer + stripped)
        buffer = ""
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def env_names(instruction: Instruction) -> list[str]:
    tokens = shlex.split(instruction.args)
    if tokens and "=" not in tokens[0]:
        return [tokens[0]]  # legacy `ENV NAME value`
    return [token.split("=", 1)[0] for token in tokens]


def final_stage() -> list[Instruction]:
    return dockerfile_stages()[-1]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"final stage needs exactly one {keyword}, found {len(found)}"
    return found[0]


# ----------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "builder + runtime stages"
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    for stage in stages:
        assert stage[0].args.split()[0] in {"${PYTHON_IMAGE}", "python:3.11-slim"}
    runtime = stages[-1]
    assert any(i.keyword == "COPY" and i.args.startswith("--from=builder /opt/venv") for i in runtime)
    runs = " ".join(i.args for stage in stages for i in stage if i.keyword == "RUN")
    assert "llm" not in runs and "llama" not in runs, "the image must not install the llm extra"


def test_dockerfile_env_names_are_settings_fields() -> None:
    names = [n for stage in dockerfile_stages() for i in stage if i.keyword == "ENV" for n in env_names(i)]
    assert names
    unknown = sorted(set(names) - SETTINGS_ENV - INTERPRETER_ENV)
    assert not unknown, f"Dockerfile ENV the service never reads: {unknown}"


def test_dockerfile_defaults_point_into_the_writable_tree() -> None:
    env: dict[str, str] = {}
    for i in final_stage():
        if i.keyword == "ENV":
            env.update(token.split("=", 1) for token in shlex.split(i.args))
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == "8080"
    for name in ("ARTIFACTS_DIR", "DATA_ROOT", "JOBS_DB_PATH", "AUTH_DB_PATH", "PEPPER_FILE"):
        assert env[name].startswith("/var/lib/ocr/"), name
    assert only(final_stage(), "WORKDIR").args == "/var/lib/ocr"
    assert "8080" in only(final_stage(), "EXPOSE").args.split()


def test_image_runs_as_non_root() -> None:
    user = only(final_stage(), "USER").args
    uid = user.split(":")[0]
    assert uid == UID, f"USER {user}: expected the numeric non-root uid {UID}"
    setup = " ".join(i.args for i in final_stage() if i.keyword == "RUN")
    assert f"--uid {UID}" in setup and "/var/lib/ocr" in setup


def test_image_healthcheck_probes_liveness() -> None:
    check = only(final_stage(), "HEALTHCHECK").args
    assert "CMD" in check and "/v1/health" in check
    assert "curl" not in check and "wget" not in check, "python:3.11-slim has neither"


def test_image_entrypoint_is_the_cli_and_serves_by_default() -> None:
    assert json.loads(only(final_stage(), "ENTRYPOINT").args) == ["ocr-orchestrator"]
    assert json.loads(only(final_stage(), "CMD").args) == ["serve"]


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", "var", ".env", "tests"):
        assert entry in ignored, entry


def image_requirements() -> list[Requirement]:
    """What the builder installs: pyproject's dependencies plus quoted extras in its RUN lines."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    runs = " ".join(i.args for stage in dockerfile_stages() for i in stage if i.keyword == "RUN")
    requirements += [Requirement(r) for r in re.findall(r'"([A-Za-z0-9_.-]+(?:\[[\w,-]+\])?[<>=!~][^"]*)"', runs)]
    return requirements


def distribution_closure(requirements: list[Requirement]) -> set[str]:
    """Distributions pip installs for ``requirements`` (read from the installed metadata)."""
    extras_of: dict[str, set[str]] = {}
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in extras_of and set(requirement.extras) <= extras_of[name]:
            continue
        extras = extras_of.setdefault(name, set())
        extras |= set(requirement.extras)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: its own dependencies are unknown, it is still listed
        for text in requires:
            dep = Requirement(text)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append(dep)
    return set(extras_of)


def test_image_installs_every_third_party_import() -> None:
    """The image has only what pyproject.toml (+ the Dockerfile) declares: no undeclared import."""
    ours = {"domain", "application", "adapters", "entrypoints"}
    graph = grimp.build_graph(*sorted(ours), include_external_packages=True)
    imported = {m.split(".")[0] for m in graph.modules} - ours - set(sys.stdlib_module_names)
    installed = distribution_closure(image_requirements())
    providers = metadata.packages_distributions()
    missing = sorted(top for top in imported
                     if not {canonicalize_name(d) for d in providers.get(top, [])} & installed)
    assert not missing, (f"imported by the service but not installed in the image (declare them in "
                         f"pyproject.toml [project].dependencies): {missing}")


# ----------------------------------------------------------------------------- compose


@pytest.mark.parametrize("path", [COMPOSE, COMPOSE_DEV], ids=lambda p: p.name)
def test_orchestrator_env_vars_are_settings_fields(path: Path) -> None:
    services = load_yaml(path)["services"]
    for name in ORCHESTRATOR_SERVICES:
        if name in services:
            unknown = sorted(set(env_of(services[name])) - SETTINGS_ENV)
            assert not unknown, f"{path.name}:{name} sets variables the service never reads: {unknown}"


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, COMPOSE_DEV)], ids=["prod", "dev"])
def test_effective_environment_loads_as_settings(files: tuple[Path, ...]) -> None:
    """With the documented .env.example, each orchestrator container's env is valid config."""
    image_env: dict[str, str] = {}
    for i in final_stage():
        if i.keyword == "ENV":
            image_env.update(token.split("=", 1) for token in shlex.split(i.args))
    image_env = {k: v for k, v in image_env.items() if k not in INTERPRETER_ENV}
    services = interpolate(merged_services(*files), env_example())
    for name in ORCHESTRATOR_SERVICES:
        settings = load_settings({**image_env, **env_of(services[name])}, dotenv_path=None)
        assert settings.store_backend == "postgres", name
        assert settings.database_url and "@postgres:5432/" in settings.database_url
        if name == "migrate":
            continue
        assert settings.jobs_backend == "celery" and settings.celery_broker_url.startswith("redis://redis:")
        assert settings.inference_backend == "vllm"
        assert settings.storage_backend == "s3"
        assert settings.api_key_pepper
        # Site analysis never falls back to the public endpoint with an empty key (issue 14).
        assert settings.openai_base_url != Settings().openai_base_url and settings.openai_api_key
        assert not settings.s3_create_bucket  # the bucket must exist unless .env asks otherwise
        if COMPOSE_DEV in files:
            assert settings.openai_base_url == "http://vllm:8000/v1"
            assert settings.openai_api_key == env_example()["VLLM_API_KEY"]
            assert settings.s3_endpoint_url == "http://minio:9000" and settings.s3_force_path_style
            assert settings.vllm_base_url == "http://vllm:8000/v1"
            assert settings.vllm_model == VLLM_MODEL
        else:
            assert settings.s3_endpoint_url == f"https://{env_example()['R2_ACCOUNT_ID']}.r2.cloudflarestorage.com"
            assert settings.s3_region == "auto"
            assert settings.vllm_base_url == env_example()["VLLM_BASE_URL"]
            assert settings.openai_base_url == env_example()["OPENAI_BASE_URL"]


def test_one_image_runs_every_role() -> None:
    services = load_yaml(COMPOSE)["services"]
    api, worker, migrate = services["api"], services["worker"], services["migrate"]
    assert api["build"] == worker["build"] == migrate["build"]
    assert api["image"] == worker["image"] == migrate["image"]
    assert (COMPOSE.parent / api["build"]["context"]).resolve() == ROOT
    assert (ROOT / api["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert api["command"] == ["serve"]
    assert worker["command"] == ["worker"]
    assert migrate["command"] == ["db", "upgrade"]


def test_production_topology() -> None:
    services = load_yaml(COMPOSE)["services"]
    assert {"migrate", "api", "worker", "redis", "postgres"} <= set(services)
    for name in ("api", "worker"):
        service = services[name]
        assert service["deploy"]["replicas"] >= 2, name
        depends = service["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        env = env_of(service)
        assert env["JOBS_BACKEND"] == "celery" and env["INFERENCE_BACKEND"] == "vllm"
        assert env["API_KEY_PEPPER"].startswith("${API_KEY_PEPPER:?"), "the pepper must be required"
        assert "${VLLM_BASE_URL" in env["VLLM_BASE_URL"], "vLLM is external in production"
        assert ".r2.cloudflarestorage.com" in env["S3_ENDPOINT_URL"]
        assert "healthcheck" in service, name
    assert "/v1/health" in " ".join(services["api"]["healthcheck"]["test"])
    assert "JOBS_MAX_CONCURRENCY" in env_of(services["worker"])
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    assert services["redis"]["image"].startswith("redis:7")
    assert services["postgres"]["image"].startswith("postgres:16")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    for name in ("redis", "postgres"):
        assert "healthcheck" in services[name], name
    assert "vllm" not in services and "minio" not in services, "those are the dev overlay's"


def test_dev_overlay_vllm_is_a_gpu_service_with_the_expected_flags() -> None:
    services = load_yaml(COMPOSE_DEV)["services"]
    vllm = services["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and d["count"] >= 1 and "gpu" in d["capabilities"] for d in devices)
    command = [str(arg) for arg in vllm["command"]]
    assert command[0] == VLLM_MODEL

    def flag(name: str) -> str:
        assert name in command, f"vllm command lacks {name}"
        return command[command.index(name) + 1]

    max_model_len = int(flag("--max-model-len"))
    assert json.loads(flag("--limit-mm-per-prompt")) == {"image": 1}
    assert flag("--api-key").startswith("${VLLM_API_KEY")
    assert vllm["ipc"] == "host"
    assert any(v.endswith(":/root/.cache/huggingface") for v in vllm["volumes"])
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    for name in ("api", "worker"):
        env = env_of(services[name])
        assert env["VLLM_BASE_URL"] == "http://vllm:8000/v1"
        assert int(env["VLLM_MAX_MODEL_LEN"]) == max_model_len, "the service's budget = the server's"
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000" and env["S3_FORCE_PATH_STYLE"] == "1"
        assert services[name]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["image"].startswith("minio/mc")
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_env_example_documents_exactly_the_interpolation_variables() -> None:
    used = interpolation_names(COMPOSE, COMPOSE_DEV)
    documented = set(env_example())
    assert not used - documented, f"undocumented in .env.example: {sorted(used - documented)}"
    assert not documented - used, f".env.example documents unused variables: {sorted(documented - used)}"


# ----------------------------------------------------------------------------- compose CLI


def compose_client() -> list[str] | None:
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return command
    return None


def run_compose_config(client: list[str], env_file: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    args = [*client, "--env-file", str(env_file)]
    for path in files:
        args += ["-f", str(path)]
    # A clean environment: only the env file supplies interpolation variables.
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "DOCKER_CONFIG", "TMPDIR"}}
    return subprocess.run([*args, "config", "-q"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def client() -> list[str]:
    found = compose_client()
    if found is None:
        pytest.skip("no compose client installed (neither `docker compose` nor `docker-compose` "
                    "answers `version`); the static compose checks above still ran")
    return found


@pytest.mark.parametrize("files", [(COMPOSE,), (COMPOSE, COMPOSE_DEV)], ids=["prod", "dev"])
def test_compose_config_accepts_the_files(client: list[str], files: tuple[Path, ...]) -> None:
    result = run_compose_config(client, ENV_EXAMPLE, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_config_refuses_a_missing_pepper(client: list[str], tmp_path: Path) -> None:
    env_file = tmp_path / "no-pepper.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env_example().items() if k != "API_KEY_PEPPER"))
    result = run_compose_config(client, env_file, COMPOSE)
    assert result.returncode != 0
    assert "API_KEY_PEPPER" in result.stdout + result.stderr
