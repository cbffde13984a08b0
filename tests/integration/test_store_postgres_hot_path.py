"""The artifact index's per-request statements on asyncpg (ADR 0043) and the PostgreSQL pool
without a ping per checkout: the contract, what each adapter reads of the other's rows, and
what happens to connections the server drops or a statement leaves in doubt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from typing import Any

import pytest
from asyncpg.exceptions import AdminShutdownError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.api_keys import SqlApiKeyStore
from adapters.store.artifact_index import SqlArtifactIndex
from adapters.store.engine import create_engine_for
from adapters.store.jobs import SqlJobStore
from adapters.store.pg_connections import run_statement
from adapters.store.pg_index import PostgresArtifactIndex
from application.ports.artifact_index import IndexEntry
from domain.errors import ArtifactExistsError, NotFoundError, StorageUnavailableError
from domain.jobs import new_job
from entrypoints.container import database_pool_size
from entrypoints.settings import Settings, SettingsError
from tests.contracts.artifact_index_contract import T0, ArtifactIndexContract, entry
from tests.support.pg import pooled_connections_closed

pytestmark = pytest.mark.services


class TestPostgresDriverArtifactIndex(ArtifactIndexContract):
    @pytest.fixture
    def adapter(self, pg_engine: AsyncEngine) -> PostgresArtifactIndex:
        return PostgresArtifactIndex(pg_engine)

    @pytest.fixture
    def unreachable(self, unreachable_pg_engine: AsyncEngine) -> PostgresArtifactIndex:
        return PostgresArtifactIndex(unreachable_pg_engine)


def _url(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def _backend_pids(engine: AsyncEngine) -> set[int]:
    """The server processes behind ``engine``'s pooled connections (read on another engine)."""
    other = create_engine_for(_url(engine))
    try:
        async with other.connect() as conn:
            rows = await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            return {pid for (pid,) in rows}
    finally:
        await other.dispose()


async def _terminate(engine: AsyncEngine, where: str = "true") -> set[int]:
    """``pg_terminate_backend`` on the database's other connections matching ``where``; waits
    until those processes are gone, so their sockets are closed when this returns."""
    killer = create_engine_for(_url(engine))
    try:
        async with killer.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            rows = await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                f"AND pid <> pg_backend_pid() AND ({where})"))
            pids = {pid for (pid,) in rows}
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                alive = (await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                                            {"pids": list(pids)})).scalar_one()
                if not alive:
                    break
                await asyncio.sleep(0.02)
    finally:
        await killer.dispose()
    await pooled_connections_closed(engine, pids)  # the event loop has read their sockets' end
    return pids


async def _script(engine: AsyncEngine, sql: str) -> None:
    raw = await engine.raw_connection()
    try:
        await raw.driver_connection.execute(sql)  # type: ignore[union-attr]  # several statements: simple protocol
    finally:
        raw.close()


async def _pid_of(engine: AsyncEngine) -> int:
    return await run_statement(engine, "pid", lambda conn: conn.fetchval("SELECT pg_backend_pid()"))


def _fatal_message() -> bytes:
    fields = b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0"
    return b"E" + (len(fields) + 4).to_bytes(4, "big") + fields


async def _dying(engine: AsyncEngine) -> Any:
    """Leave the pool's (only) connection as a terminated backend leaves it for a moment: its
    FATAL message read, its socket not yet closed. Returns that asyncpg connection."""
    raw = await engine.raw_connection()
    conn = raw.driver_connection
    conn._protocol.data_received(_fatal_message())  # type: ignore[union-attr]
    raw.close()
    assert conn is not None and not conn.is_closed()
    return conn


@pytest.fixture
async def one_connection(pg_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for(_url(pg_engine), pool_size=1, max_overflow=0, connect_timeout_s=2)
    yield engine
    await engine.dispose()


async def _sleep_on(engine: AsyncEngine) -> None:
    await run_statement(engine, "sleep", lambda conn: conn.execute("SELECT pg_sleep(5)"))


async def test_both_postgres_index_adapters_read_what_the_other_wrote(pg_engine: AsyncEngine) -> None:
    sql, fast = SqlArtifactIndex(pg_engine), PostgresArtifactIndex(pg_engine)
    by_sql = entry("by-sql", T0.astimezone(timezone(timedelta(hours=3))), summary={"n": 1, "x": [None, 1.5]})
    by_fast = entry("by-fast", T0 + timedelta(microseconds=1), summary={"ü": "ä", "b": {"z": 1, "a": 2}})
    await sql.add(by_sql)
    await fast.add(by_fast)
    assert await fast.get("batch", "by-sql") == by_sql
    got = await sql.get("batch", "by-fast")
    assert got == by_fast and list(got.summary["b"]) == ["z", "a"]  # type: ignore[index]
    page = await sql.page("batch", owner_key_id="alice", limit=10)
    assert [e.artifact_id for e in page.items] == ["by-fast", "by-sql"]
    with pytest.raises(ArtifactExistsError):
        await fast.add(entry("by-sql"))

    await fast.claim(entry("claimed", kind="extract"))
    held = await sql.get("extract", "claimed")
    assert held is not None and held.pending and held.claimed_at == T0
    await sql.refresh_claims("extract", ["claimed"], T0 + timedelta(seconds=5))
    assert (await fast.claim(entry("claimed", kind="extract", owner="bob"))) == await sql.get("extract", "claimed")
    await fast.complete("extract", "claimed", {"ok": True})
    done = await sql.get("extract", "claimed")
    assert done is not None and done.state == "complete" and done.claimed_at is None and done.summary == {"ok": True}


async def test_a_claim_and_its_read_of_the_holder_need_one_connection_at_a_time(one_connection: AsyncEngine) -> None:
    # No overflow: a claim that held a connection while reading the holder would wait for
    # itself until the pool timeout.
    index = PostgresArtifactIndex(one_connection)
    outcomes = await asyncio.gather(*(index.claim(entry("one", kind="extract", owner=f"o{i}")) for i in range(12)))
    assert outcomes.count(None) == 1
    await index.complete("extract", "one")
    assert one_connection.pool.checkedout() == 0


async def test_connections_killed_by_the_server_are_replaced_before_the_next_request(pg_engine: AsyncEngine) -> None:
    index, jobs, keys = PostgresArtifactIndex(pg_engine), SqlJobStore(pg_engine), SqlApiKeyStore(pg_engine)
    await asyncio.gather(*(index.claim(entry(f"warm-{i}", kind="extract")) for i in range(6)))
    await asyncio.gather(*(index.get("extract", f"warm-{i}") for i in range(6)))  # several connections
    before = await _backend_pids(pg_engine)
    assert len(before) >= 2  # several pooled connections, all about to be killed
    killed = await _terminate(pg_engine)
    assert before <= killed
    # No request fails: each checkout refuses the closed connections and opens new ones.
    assert await index.claim(entry("after-kill", kind="extract")) is None
    await index.complete("extract", "after-kill")
    got = await index.get("extract", "after-kill")
    assert got is not None and got.state == "complete"
    await jobs.create(new_job(job_id="job-1", kind="extract", owner_key_id="alice", owner_role="client",
                              request={}, at=T0))
    assert (await jobs.get("job-1")) is not None
    assert await keys.list() == []
    await asyncio.gather(*(index.complete("extract", f"warm-{i}") for i in range(6)))
    assert not (await _backend_pids(pg_engine)) & killed


async def test_a_connection_killed_under_a_statement_fails_it_as_unavailable_then_is_replaced(
        pg_engine: AsyncEngine) -> None:
    index = PostgresArtifactIndex(pg_engine)
    await index.claim(entry("locked", kind="extract"))
    blocker = create_engine_for(_url(pg_engine))
    try:
        async with blocker.begin() as conn:  # holds the row: our completion waits on it
            await conn.execute(text("SELECT 1 FROM artifact_index WHERE artifact_id = 'locked' FOR UPDATE"))
            waiting = asyncio.create_task(index.complete("extract", "locked"))
            deadline = time.monotonic() + 10
            while not await _terminate(pg_engine, "wait_event_type = 'Lock'"):
                assert time.monotonic() < deadline and not waiting.done()
                await asyncio.sleep(0.02)
            with pytest.raises(StorageUnavailableError):
                await waiting
    finally:
        await blocker.dispose()
    await index.complete("extract", "locked")  # a fresh connection; the dead one was discarded
    got = await index.get("extract", "locked")
    assert got is not None and got.state == "complete"


async def test_a_cancelled_statement_discards_its_connection(one_connection: AsyncEngine) -> None:
    seen = []

    async def sleep(conn: Any) -> None:
        seen.append(conn)
        await conn.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(run_statement(one_connection, "sleep", sleep))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen[0].is_closed() and one_connection.pool.checkedout() == 0
    assert await _pid_of(one_connection) > 0  # a new connection


async def test_a_cancelled_caller_leaves_the_shared_statement_to_finish(pg_engine: AsyncEngine) -> None:
    # Other callers' rows share the statement: cancelling one caller does not cancel it, and
    # its row may still be written (as a cancelled statement could always still commit).
    index = PostgresArtifactIndex(pg_engine)
    await index.claim(entry("locked", kind="extract"))
    blocker = create_engine_for(_url(pg_engine))
    try:
        async with blocker.begin() as conn:
            await conn.execute(text("SELECT 1 FROM artifact_index WHERE artifact_id = 'locked' FOR UPDATE"))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(index.complete("extract", "locked"), 0.3)
    finally:
        await blocker.dispose()
    deadline = time.monotonic() + 5
    while (got := await index.get("extract", "locked")) is not None and got.pending:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert got is not None and got.state == "complete"


async def test_an_unavailable_sqlstate_is_unavailable_even_on_a_live_connection(pg_engine: AsyncEngine) -> None:
    index = PostgresArtifactIndex(pg_engine)
    await index.claim(entry("req-1", kind="extract"))
    await _script(pg_engine, """
        CREATE FUNCTION hot_path_fail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '57P01'; END $$;
        CREATE TRIGGER hot_path_fail BEFORE UPDATE ON artifact_index FOR EACH ROW EXECUTE FUNCTION hot_path_fail();
    """)
    try:
        with pytest.raises(StorageUnavailableError):
            await index.complete("extract", "req-1")
    finally:
        await _script(pg_engine, "DROP TRIGGER hot_path_fail ON artifact_index; DROP FUNCTION hot_path_fail();")
    await index.complete("extract", "req-1")


async def test_other_server_errors_are_not_unavailability_and_keep_the_connection(
        one_connection: AsyncEngine) -> None:
    index = PostgresArtifactIndex(one_connection)
    pid = await _pid_of(one_connection)
    for n in range(3):
        with pytest.raises(Exception) as caught:  # a bug (ids are checked long before): not a 503
            await index.claim(entry("x" * 200, kind="extract"))
        assert not isinstance(caught.value, StorageUnavailableError)
        assert await index.claim(entry(f"fine-{n}", kind="extract")) is None
        await index.complete("extract", f"fine-{n}")
    assert await _pid_of(one_connection) == pid


async def test_a_dying_connection_is_skipped_by_the_hot_statements(one_connection: AsyncEngine) -> None:
    index = PostgresArtifactIndex(one_connection)
    await index.claim(entry("r", kind="extract"))
    dying = await _dying(one_connection)
    await index.complete("extract", "r")  # nothing was sent on the dying one: run again on a new one
    assert dying.is_closed()
    got = await index.get("extract", "r")
    assert got is not None and got.state == "complete"


async def test_a_dying_connection_fails_one_sqlalchemy_call_as_unavailable_and_is_discarded(
        one_connection: AsyncEngine) -> None:
    jobs = SqlJobStore(one_connection)
    await jobs.create(new_job(job_id="job-1", kind="extract", owner_key_id="alice", owner_role="client",
                              request={}, at=T0))
    dying = await _dying(one_connection)
    with pytest.raises(StorageUnavailableError):
        await jobs.get("job-1")
    assert dying.is_closed()
    assert (await jobs.get("job-1")) is not None


async def test_a_fatal_answer_discards_the_connection_before_its_socket_closes(pg_engine: AsyncEngine) -> None:
    seen = []

    async def statement(conn: Any) -> None:
        seen.append(conn)
        raise AdminShutdownError("terminating connection due to administrator command")

    with pytest.raises(StorageUnavailableError):
        await run_statement(pg_engine, "statement", statement)
    assert len(seen) == 1 and seen[0].is_closed()  # sent, so not run again; and not pooled


async def test_a_statement_whose_backend_is_terminated_is_unavailable_and_the_next_succeeds(
        one_connection: AsyncEngine) -> None:
    index = PostgresArtifactIndex(one_connection)
    await index.claim(entry("r", kind="extract"))
    sleeper = asyncio.create_task(_sleep_on(one_connection))
    deadline = time.monotonic() + 10
    while not await _terminate(one_connection, "query LIKE 'SELECT pg_sleep%'"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    with pytest.raises(StorageUnavailableError):
        await sleeper
    await index.complete("extract", "r")


def test_the_pool_is_sized_from_the_configured_concurrency() -> None:
    assert database_pool_size(Settings()) == 34
    assert database_pool_size(Settings(inference_max_concurrency=8, jobs_max_concurrency=4)) == 12
    assert database_pool_size(Settings(database_pool_size=5)) == 5
    with pytest.raises(SettingsError):
        database_pool_size(Settings(database_pool_size=0))


async def test_the_pool_keeps_its_connections_and_pings_none(pg_engine: AsyncEngine) -> None:
    engine = create_engine_for(_url(pg_engine), pool_size=34, max_overflow=0)
    index = PostgresArtifactIndex(engine)
    try:
        assert engine.pool.size() == 34 and engine.pool._pre_ping is False  # type: ignore[attr-defined]
        first: set[int] = set()
        for n in range(3):
            await asyncio.gather(*(index.claim(entry(f"r{n}-{i}", kind="extract")) for i in range(32)))
            await asyncio.gather(*(index.complete("extract", f"r{n}-{i}") for i in range(32)))
            first = first or await _backend_pids(engine)
        assert await _backend_pids(engine) == first and len(first) <= 34
    finally:
        await engine.dispose()


async def test_concurrent_writes_share_statements_and_each_gets_its_own_outcome(pg_engine: AsyncEngine) -> None:
    index = PostgresArtifactIndex(pg_engine)
    await index.add(entry("taken", kind="extract"))
    claims = [entry(f"c{i}", kind="extract") for i in range(40)]
    claims += [entry("taken", kind="extract", owner="bob"), entry("x" * 200, kind="extract"),
               entry("twice", kind="extract", owner="o1"), entry("twice", kind="extract", owner="o2")]
    results = await asyncio.gather(*(index.claim(e) for e in claims), return_exceptions=True)
    assert results[:40] == [None] * 40
    taken = results[40]
    assert isinstance(taken, IndexEntry) and taken.owner_key_id == "alice" and taken.state == "complete"
    assert isinstance(results[41], Exception) and not isinstance(results[41], StorageUnavailableError)
    twice = results[42:]  # one wins; the other gets the winner as holder
    assert twice.count(None) == 1
    winner = claims[42 + twice.index(None)].owner_key_id
    assert [h.owner_key_id for h in twice if isinstance(h, IndexEntry)] == [winner]

    done = await asyncio.gather(*(index.complete("extract", f"c{i}", {"i": i}) for i in range(40)),
                                index.complete("extract", "ghost"), return_exceptions=True)
    assert done[:40] == [None] * 40 and isinstance(done[40], NotFoundError)
    got = await asyncio.gather(*(index.get("extract", f"c{i}") for i in range(40)))
    assert [(g.state, g.summary) for g in got if g is not None] == [("complete", {"i": i}) for i in range(40)]
    assert await index.get("extract", "x" * 200) is None


async def test_claims_adds_and_completions_of_concurrent_callers_go_in_one_statement(
        pg_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    index = PostgresArtifactIndex(pg_engine)
    await index.claim(entry("a", kind="extract"))
    sent: list[str] = []

    async def counted(engine: AsyncEngine, what: str, statement: Any) -> Any:
        sent.append(what)
        return await run_statement(engine, what, statement)

    monkeypatch.setattr("adapters.store.pg_index.run_statement", counted)
    results = await asyncio.gather(
        index.complete("extract", "a", {"n": 1}), index.claim(entry("b", kind="extract")),
        index.add(entry("c", kind="extract")), index.complete("extract", "ghost"),
        index.claim(entry("a", kind="extract", owner="bob")), return_exceptions=True)
    assert results[:3] == [None, None, None] and isinstance(results[3], NotFoundError)
    holder = results[4]  # the same key waited for the next statement, after the completion
    assert isinstance(holder, IndexEntry) and holder.owner_key_id == "alice" and holder.state == "complete"
    assert sent == ["index write", "index write", "artifact lookup"]
    b, c = await index.get("extract", "b"), await index.get("extract", "c")
    assert b is not None and b.pending and c is not None and c.state == "complete"


async def test_a_write_held_by_another_transaction_times_out_as_unavailable_and_others_go_on(
        pg_engine: AsyncEngine) -> None:
    index = PostgresArtifactIndex(pg_engine, write_timeout_s=0.5)
    await index.claim(entry("held", kind="extract"))
    blocker = create_engine_for(_url(pg_engine))
    try:
        async with blocker.begin() as conn:  # an open transaction holding the row
            await conn.execute(text("SELECT 1 FROM artifact_index WHERE artifact_id = 'held' FOR UPDATE"))
            started = time.monotonic()
            with pytest.raises(StorageUnavailableError):
                await index.complete("extract", "held")
            assert time.monotonic() - started < 3
            assert await index.claim(entry("other", kind="extract")) is None  # the next statement goes on
    finally:
        await blocker.dispose()
    await index.complete("extract", "held")
    assert pg_engine.pool.checkedout() == 0
