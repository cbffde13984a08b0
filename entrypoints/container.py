"""Composition root: the only module that imports adapters (HOUSE_STYLE "Composition root").

One Selector per swappable port; only the selected branch is ever opened. Resources
(SQL engines, the S3 client, the vLLM HTTP client) open when first resolved, never at import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from adapters.billing.openai_costs import OpenAICostsSource
from adapters.blobs.local import LocalBlobStore
from adapters.blobs.s3 import S3BlobStore
from adapters.blobs.s3_client import open_s3_client
from adapters.chat.mock import MockChatModel
from adapters.chat.openai import OpenAIChatModel
from adapters.embeddings.mock import MockEmbedder
from adapters.embeddings.openai import OpenAIEmbedder
from adapters.files.data_root import LocalDataRoot
from adapters.images.pillow import PillowImageProbe
from adapters.inference.mock import MockInferenceClient
from adapters.inference.vllm import VllmInferenceClient, build_http_client
from adapters.openai_http.client import build_openai_http_client
from adapters.runner.celery import CeleryJobQueue
from adapters.runner.celery_worker import CeleryJobWorker
from adapters.runner.local import LocalJobRunner
from adapters.store.api_keys import SqlApiKeyStore
from adapters.store.artifact_index import SqlArtifactIndex
from adapters.store.engine import create_engine_for, sqlite_file_of
from adapters.store.input_usage import SqlInputUsage
from adapters.store.jobs import SqlJobStore
from adapters.store.migrate import current_revision, head_revision, upgrade
from adapters.store.pg_index import PostgresArtifactIndex
from adapters.store.sqlite_index import SqliteArtifactIndex
from adapters.telemetry.blobs import InstrumentedBlobStore
from adapters.telemetry.prometheus import PrometheusTelemetry
from application.analyze_site import SiteAnalyzer
from application.analyze_site_types import AnalyzeConfig
from application.artifacts import ArtifactReader
from application.authenticate import Authenticator
from application.batch_feed import ItemFeeds
from application.batch_plans import BatchPlanner
from application.batches import BatchRunner
from application.billing import BillingConfig, BillingService
from application.evaluation import Evaluator
from application.extract import ExtractConfig, Extractor
from application.ground_truths import GroundTruthStore
from application.inference_limit import ConcurrencyLimitedInference
from application.inputs import InputStore
from application.job_execution import JobExecutor
from application.job_recovery import recover_jobs, sweep_forever
from application.job_signals import JobSignals
from application.jobs import JobService
from application.live_uploads import LiveUploads
from application.outages import Outages
from application.request_claims import RequestClaims
from application.run_export import RunExporter
from application.site_embeddings import EmbeddingCache
from domain.cost import PriceTable
from domain.errors import StorageUnavailableError
from domain.receipts.tasks import load_task_registry
from domain.site.thresholds import MatchThresholds, ProdclassThresholds
from entrypoints.pepper import resolve_pepper
from entrypoints.services import Services, resolve
from entrypoints.settings import Settings, SettingsError


class SchemaNotCurrentError(StorageUnavailableError):
    """PostgreSQL is migrated explicitly (`db upgrade`), never behind an operator's back."""

    code = "schema_not_current"


def database_pool_size(settings: Settings) -> int:
    """PostgreSQL connections one process keeps (ADR 0043): every model call in flight (sync
    requests and job items share INFERENCE_MAX_CONCURRENCY) and every running job can be in a
    statement at once; requests beyond that wait a moment for a connection. Connections open
    as they are first needed and stay open, so the pool never churns."""
    size = settings.database_pool_size
    if size is None:
        size = settings.inference_max_concurrency + settings.jobs_max_concurrency
    if size < 1:
        raise SettingsError("DATABASE_POOL_SIZE must be at least 1")
    return size


async def sql_engine(url: str, pool_size: int = 10) -> AsyncIterator[object]:
    engine = create_engine_for(url, pool_size=pool_size, max_overflow=0)
    if url.startswith("sqlite"):
        await upgrade(engine)  # embedded default: the schema follows the code
    elif await current_revision(engine) != head_revision():
        await engine.dispose()
        raise SchemaNotCurrentError(
            "the database schema is not at the current migration; run `ocr-orchestrator db upgrade`"
        )
    try:
        yield engine
    finally:
        await engine.dispose()


async def artifact_index_on(engine: Any) -> AsyncIterator[object]:
    """The per-request claims and completions bypass SQLAlchemy: on a SQLite file through one
    writer thread (ADR 0007), on PostgreSQL as single asyncpg statements (ADR 0043)."""
    sql = SqlArtifactIndex(engine)
    if engine.dialect.name == "postgresql":
        yield PostgresArtifactIndex(engine, sql)
        return
    path = sqlite_file_of(engine)
    if path is None:
        yield sql
        return
    index = SqliteArtifactIndex(path, sql)
    try:
        yield index
    finally:
        await index.aclose()


async def s3_client(settings: Settings) -> AsyncIterator[object]:
    async with open_s3_client(
        endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
        force_path_style=settings.s3_force_path_style, access_key_id=settings.aws_access_key_id,
        secret_access_key=settings.aws_secret_access_key,
    ) as client:
        yield client


async def s3_blob_store(client: Any, settings: Settings) -> AsyncIterator[object]:
    """The S3 store; with S3_CREATE_BUCKET=1 the bucket is created here, before any request."""
    bucket = settings.s3_bucket
    store = S3BlobStore(client, bucket=bucket, prefix=settings.s3_prefix,
                        allow_overwrite=settings.s3_allow_overwrite,
                        missing_bucket_hint=f"create bucket {bucket} or set S3_CREATE_BUCKET=1")
    if settings.s3_create_bucket:
        await store.create_bucket_if_missing(region=settings.s3_region)
    yield store


async def vllm_http(settings: Settings) -> AsyncIterator[object]:
    client = build_http_client(
        connect_timeout=settings.vllm_connect_timeout_s, read_timeout=settings.vllm_read_timeout_s,
        write_timeout=settings.vllm_write_timeout_s, pool_timeout=settings.vllm_pool_timeout_s,
        max_connections=settings.vllm_http_max_connections, max_keepalive=settings.vllm_http_max_keepalive,
        keepalive_expiry=settings.vllm_http_keepalive_expiry_s,
    )
    try:
        yield client
    finally:
        await client.aclose()


async def openai_http(settings: Settings) -> AsyncIterator[object]:
    client = build_openai_http_client(settings.openai_timeout_s, 50)
    try:
        yield client
    finally:
        await client.aclose()


def analyze_config(settings: Settings) -> AnalyzeConfig:
    return AnalyzeConfig(
        prodclass=ProdclassThresholds(
            guess_min=settings.prodclass_guess_min, override_min=settings.prodclass_override_min,
            override_margin=settings.prodclass_override_margin,
            name_match_ratio=settings.prodclass_name_match_ratio),
        matching=MatchThresholds(match_min=settings.catalog_match_min),
    )


def _db_layout(settings: Settings) -> str:
    return "shared" if settings.database_url else "separate"


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    jobs_engine = providers.Resource(sql_engine, url=settings.provided.jobs_db_url,
                                     pool_size=providers.Callable(database_pool_size, settings))
    auth_engine = providers.Selector(
        providers.Callable(_db_layout, settings),
        shared=jobs_engine,
        separate=providers.Resource(sql_engine, url=settings.provided.auth_db_url),
    )
    api_key_store = providers.Singleton(SqlApiKeyStore, engine=auth_engine)
    artifact_index = providers.Resource(artifact_index_on, engine=jobs_engine)
    job_store = providers.Singleton(SqlJobStore, engine=jobs_engine)

    telemetry = providers.Singleton(PrometheusTelemetry)
    raw_blob_store = providers.Selector(
        providers.Callable(lambda s: s.storage_backend, settings),
        local=providers.Singleton(
            LocalBlobStore, root=providers.Callable(Path, settings.provided.artifacts_dir),
            allow_overwrite=settings.provided.s3_allow_overwrite,
            min_free_bytes=providers.Callable(lambda s: s.storage_min_free_mb * 1024 * 1024, settings),
        ),
        s3=providers.Resource(s3_blob_store, client=providers.Resource(s3_client, settings), settings=settings),
    )

    blob_store = providers.Singleton(InstrumentedBlobStore, inner=raw_blob_store, telemetry=telemetry)

    model_client = providers.Selector(
        providers.Callable(lambda s: s.inference_backend, settings),
        mock=providers.Singleton(MockInferenceClient, max_attempts=settings.provided.vllm_retry_max_attempts,
                                 latency_ms=settings.provided.mock_latency_ms),
        vllm=providers.Singleton(
            VllmInferenceClient, http=providers.Resource(vllm_http, settings),
            base_url=settings.provided.vllm_base_url, api_key=settings.provided.vllm_api_key,
            model=settings.provided.vllm_model, retry_max_attempts=settings.provided.vllm_retry_max_attempts,
            max_model_len=settings.provided.vllm_max_model_len,
            max_tokens_limit=settings.provided.vllm_max_tokens_limit,
            response_format_style=settings.provided.vllm_response_format,
            call_timeout_s=settings.provided.vllm_call_timeout_s,
        ),
    )
    inference = providers.Singleton(
        ConcurrencyLimitedInference, inner=model_client, limit=settings.provided.inference_max_concurrency,
        telemetry=telemetry,
    )

    tasks = providers.Singleton(
        load_task_registry,
        extra_dir=providers.Callable(lambda s: Path(s.tasks_dir) if s.tasks_dir else None, settings),
    )
    image_probe = providers.Singleton(PillowImageProbe)
    pepper = providers.Singleton(resolve_pepper, settings.provided.api_key_pepper, settings.provided.pepper_file)
    authenticator = providers.Singleton(
        Authenticator, store=api_key_store, pepper=pepper, enabled=settings.provided.auth_enabled
    )
    extract_config = providers.Singleton(
        ExtractConfig, max_image_bytes=settings.provided.max_image_bytes,
        temperature=settings.provided.vllm_temperature, max_tokens=settings.provided.vllm_max_tokens,
        max_tokens_limit=settings.provided.vllm_max_tokens_limit, debug_mode=settings.provided.debug_mode,
    )
    input_usage = providers.Singleton(SqlInputUsage, engine=jobs_engine)
    inputs = providers.Singleton(InputStore, blobs=blob_store, usage=input_usage,
                                 max_bytes_per_owner=settings.provided.max_input_bytes_per_owner)
    outages = providers.Singleton(
        Outages, max_wait_s=settings.provided.outage_max_wait_s,
        storage_probe=providers.Callable(lambda blobs, index, jobs: _all(blobs.ping, index.ping, jobs.ping),
                                         blob_store, artifact_index, job_store),
        model_probe=inference.provided.ping)
    request_claims = providers.Singleton(RequestClaims, index=artifact_index, blobs=blob_store)
    data_root = providers.Singleton(LocalDataRoot, root=providers.Callable(Path, settings.provided.data_root))
    extractor = providers.Singleton(
        Extractor, tasks=tasks, inference=inference, blobs=blob_store, index=artifact_index,
        images=image_probe, inputs=inputs, config=extract_config, claims=request_claims,
    )
    artifacts = providers.Singleton(ArtifactReader, blobs=blob_store, index=artifact_index)
    ground_truths = providers.Singleton(GroundTruthStore, blobs=blob_store, index=artifact_index)
    evaluator = providers.Singleton(Evaluator, tasks=tasks, artifacts=artifacts, ground_truths=ground_truths,
                                    blobs=blob_store, index=artifact_index)
    exporter = providers.Singleton(RunExporter, artifacts=artifacts, blobs=blob_store)
    planner = providers.Singleton(BatchPlanner, tasks=tasks, data_root=data_root, index=artifact_index,
                                  artifacts=artifacts)
    batch_runner = providers.Singleton(BatchRunner, extractor=extractor, inputs=inputs, data_root=data_root,
                                       blobs=blob_store, index=artifact_index, evaluator=evaluator,
                                       telemetry=telemetry, outages=outages)
    job_signals = providers.Singleton(JobSignals)
    item_feeds = providers.Singleton(ItemFeeds)
    celery_queue = providers.Singleton(CeleryJobQueue, broker_url=settings.provided.celery_broker_url,
                                       queue=settings.provided.celery_queue,
                                       result_backend=settings.provided.celery_result_backend)
    executor = providers.Singleton(
        JobExecutor, store=job_store, extractor=extractor, batches=batch_runner, blobs=blob_store,
        heartbeat_s=settings.provided.jobs_heartbeat_s, signals=job_signals, feeds=item_feeds,
        max_attempts=settings.provided.jobs_max_attempts, outages=outages,
        # Celery: an interrupted job goes back to the broker; locally the next start resumes it.
        queue=providers.Selector(providers.Callable(lambda s: s.jobs_backend, settings),
                                 local=providers.Object(None), celery=celery_queue),
    )
    job_queue = providers.Selector(
        providers.Callable(lambda s: s.jobs_backend, settings),
        local=providers.Singleton(LocalJobRunner, execute=executor.provided.execute,
                                  concurrency=settings.provided.jobs_max_concurrency,
                                  interrupt=executor.provided.interrupt),
        celery=celery_queue,
    )
    jobs = providers.Singleton(JobService, store=job_store, queue=job_queue, blobs=blob_store, signals=job_signals)
    live_uploads = providers.Singleton(LiveUploads, jobs=jobs, store=job_store, feeds=item_feeds, inputs=inputs)

    # Site analysis (SPEC §9): INFERENCE_BACKEND picks mock or OpenAI-compatible chat/embeddings.
    openai_client = providers.Resource(openai_http, settings)
    chat_model = providers.Selector(
        providers.Callable(lambda s: s.inference_backend, settings),
        mock=providers.Singleton(MockChatModel),
        vllm=providers.Singleton(OpenAIChatModel, http=openai_client, base_url=settings.provided.openai_base_url,
                                 api_key=settings.provided.openai_api_key, max_tokens=settings.provided.chat_max_tokens,
                                 retry_max_attempts=settings.provided.openai_retry_max_attempts),
    )
    embedder = providers.Selector(
        providers.Callable(lambda s: s.inference_backend, settings),
        mock=providers.Singleton(MockEmbedder),
        vllm=providers.Singleton(OpenAIEmbedder, http=openai_client,
                                 base_url=providers.Callable(lambda s: s.openai_embed_base_url or s.openai_base_url,
                                                             settings),
                                 api_key=settings.provided.openai_api_key,
                                 retry_max_attempts=settings.provided.openai_retry_max_attempts),
    )
    costs_source = providers.Singleton(OpenAICostsSource, http=openai_client,
                                       base_url=settings.provided.billing_costs_base_url,
                                       admin_key=settings.provided.openai_admin_key)
    billing = providers.Singleton(BillingService, source=costs_source, config=providers.Singleton(
        BillingConfig, monthly_limit_usd=settings.provided.billing_monthly_limit_usd,
        prepaid_credits_usd=settings.provided.billing_prepaid_credits_usd,
        cache_ttl_s=settings.provided.billing_summary_cache_ttl_sec))
    embedding_cache = providers.Singleton(EmbeddingCache, embedder=embedder)
    analyzer = providers.Singleton(
        SiteAnalyzer, chat=chat_model, embeddings=embedding_cache, billing=billing, blobs=blob_store,
        index=artifact_index, prices=providers.Callable(PriceTable.load),
        config=providers.Callable(analyze_config, settings),
    )


def build_container(settings: Settings) -> Container:
    container = Container(settings=settings)
    return container


async def open_services(container: Container) -> Services:
    """Resolve only the selected ports (init_resources() would open every Selector branch)."""
    settings: Settings = container.settings()
    api_keys = await resolve(container.api_key_store())
    index = await resolve(container.artifact_index())
    blobs = await resolve(container.blob_store())
    inference = await resolve(container.inference())
    job_store = await resolve(container.job_store())
    job_queue = await resolve(container.job_queue())
    probes = {"database": _all(api_keys.ping, index.ping, job_store.ping), "storage": blobs.ping}
    if settings.jobs_backend == "celery":
        probes["broker"] = job_queue.ping
        probes["workers"] = job_queue.ping_workers  # not ready while no worker consumes the queue
    if settings.inference_backend == "vllm":
        probes["inference"] = inference.ping
    return Services(
        settings=settings,
        authenticator=await resolve(container.authenticator()),
        api_keys=api_keys,
        extractor=await resolve(container.extractor()),
        artifacts=await resolve(container.artifacts()),
        tasks=await resolve(container.tasks()),
        inference=inference,
        inputs=await resolve(container.inputs()),
        planner=await resolve(container.planner()),
        batch_runner=await resolve(container.batch_runner()),
        jobs=await resolve(container.jobs()),
        job_store=job_store,
        job_queue=job_queue,
        executor=await resolve(container.executor()),
        analyzer=await resolve(container.analyzer()),
        billing=await resolve(container.billing()),
        ground_truths=await resolve(container.ground_truths()),
        evaluator=await resolve(container.evaluator()),
        exporter=await resolve(container.exporter()),
        telemetry=await resolve(container.telemetry()),
        live_uploads=await resolve(container.live_uploads()) if settings.jobs_backend == "local" else None,
        readiness_probes=probes,
    )


async def start_job_runner(services: Services) -> None:
    """Local runner only: resume what a stop interrupted, then start the workers and their
    sweep (ADR 0052). Celery workers sweep for themselves (``ocr-orchestrator worker``)."""
    queue = services.job_queue
    if isinstance(queue, LocalJobRunner):
        settings = services.settings
        await recover_jobs(services.job_store, queue)
        executor = services.executor
        await queue.start(sweep=lambda: sweep_forever(
            services.job_store, queue, stale_after=timedelta(seconds=settings.jobs_stale_after_s),
            every_s=sweep_interval_s(settings), busy=lambda: executor.executing, waiting=queue.waiting,
            lost_after=None))


def sweep_interval_s(settings: Settings) -> float:
    """Often enough that a job whose runner died is taken back soon after it turns stale."""
    return min(max(settings.jobs_stale_after_s / 4, 0.5), 60.0)


async def stop_job_runner(services: Services) -> None:
    queue = services.job_queue
    if isinstance(queue, LocalJobRunner):
        await queue.stop()


async def close_services(container: Container) -> None:
    await resolve(container.shutdown_resources())


def _all(*probes):  # noqa: ANN001, ANN202
    async def run() -> None:
        for probe in probes:
            await probe()

    return run


async def upgrade_databases(settings: Settings) -> list[str]:
    """Apply migrations to every configured database; returns the (password-masked) URLs."""
    urls = dict.fromkeys([settings.jobs_db_url, settings.auth_db_url])
    done = []
    for url in urls:
        engine = create_engine_for(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        done.append(engine.url.render_as_string(hide_password=True))
    return done


# `ocr-orchestrator worker` (ADR 0050). The worker resolves only what it runs; the Celery
# consumer is reached through here because only this module imports adapters.


async def open_worker_services(container: Container) -> tuple[SqlJobStore, JobExecutor, CeleryJobQueue]:
    """The job store, the executor (whose heartbeat comes from the settings) and the queue
    interrupted or stale jobs go back to."""
    return (await resolve(container.job_store()), await resolve(container.executor()),
            await resolve(container.celery_queue()))


def celery_job_worker(settings: Settings, execute: Callable[[str], None],
                      on_shutdown: Callable[[], None] | None = None) -> CeleryJobWorker:
    return CeleryJobWorker(
        broker_url=settings.celery_broker_url, result_backend=settings.celery_result_backend,
        queue=settings.celery_queue, concurrency=settings.jobs_max_concurrency, log_level=settings.log_level,
        execute=execute, on_shutdown=on_shutdown,
    )
