"""``ArtifactIndex`` on PostgreSQL with the per-request statements on asyncpg itself (ADR 0043).

Every ``/v1/extract`` and every batch item claims its id before the model call and completes
it after (ADR 0042). Through SQLAlchemy each of those was a pool checkout with a ping
(``BEGIN``, a query, ``ROLLBACK``), then ``BEGIN``, the statement and ``COMMIT``: six round
trips and about 0.5 ms of CPU. Here:

* The writes — claims, adds, completions — of concurrent callers go out as one statement in
  autocommit (``adapters/store/pg_batches.py``): an ``INSERT … ON CONFLICT (kind, artifact_id)
  DO NOTHING`` and an ``UPDATE`` over arrays, each listing the rows it took (``RETURNING``).
  A caller alone sends at once; under load one round trip and one commit serve several
  requests. A claim reads the holder (a second statement) only when its id was taken; an
  add then fails with ``ArtifactExistsError``, without a failed statement to roll back.
* ``get`` is one ``SELECT``. All of them use asyncpg's prepared-statement cache, over
  connections of the engine's own pool (one pool, one connection budget).
* Paging, summary updates, releases, claim refreshes, deletes and ``ping`` are rare and stay
  on ``SqlArtifactIndex`` over the same engine.

Values are the ones ``SqlArtifactIndex`` writes (aware UTC timestamps, the same JSON text or
NULL), so either reads what the other wrote.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.artifact_index import RareMethodsOnSql, SqlArtifactIndex
from adapters.store.pg_batches import GroupedStatements
from adapters.store.pg_connections import run_statement
from adapters.store.timestamps import as_utc
from application.ports.artifact_index import COMPLETE, PENDING, IndexEntry
from domain.errors import ArtifactExistsError, NotFoundError

_COLUMNS = "kind, artifact_id, owner_key_id, day, rel_ref, created_at, summary_json, state, claimed_at"
_GET = f"SELECT {_COLUMNS} FROM artifact_index WHERE kind = $1 AND artifact_id = $2"
# The writes of concurrent callers in one statement (adapters/store/pg_batches.py): the
# inserts (claims, adds) and the completions, one array per column. No key appears twice in
# one statement, and a completion follows its claim's statement, so the two parts never meet.
_WRITE = (
    "WITH ins AS ("
    f"INSERT INTO artifact_index ({_COLUMNS}) "
    "SELECT k, a, o, d, r, c, s::json, st, ca FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], "
    "$4::varchar[], $5::varchar[], $6::timestamptz[], $7::text[], $8::varchar[], $9::timestamptz[]) "
    "AS v(k, a, o, d, r, c, s, st, ca) "
    "ON CONFLICT (kind, artifact_id) DO NOTHING RETURNING kind, artifact_id), "
    "upd AS ("
    "UPDATE artifact_index AS t SET state = 'complete', claimed_at = NULL, "
    "summary_json = COALESCE(v.s::json, t.summary_json) "
    "FROM unnest($10::varchar[], $11::varchar[], $12::text[]) AS v(k, a, s) "
    "WHERE t.kind = v.k AND t.artifact_id = v.a RETURNING t.kind, t.artifact_id) "
    "SELECT true, kind, artifact_id FROM ins UNION ALL SELECT false, kind, artifact_id FROM upd"
)
_INSERT, _UPDATE = True, False
# The writes of a process wait for each other's statement, so one row held by another
# transaction must not hold them all for long: like SQLite's busy timeout (ADR 0007), the
# statement is then cancelled and its rows fail as unavailable (retryable).
WRITE_TIMEOUT_S = 5.0

# (True, kind, artifact_id, owner, day, rel_ref, created_at, summary text, state, claimed_at)
# or (False, kind, artifact_id, summary text).
Write = tuple[Any, ...]


class PostgresArtifactIndex(RareMethodsOnSql):
    """See the module docstring; ``fallback`` runs on the same engine."""

    def __init__(self, engine: AsyncEngine, fallback: SqlArtifactIndex | None = None, *,
                 write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self._engine = engine
        self._fallback = fallback or SqlArtifactIndex(engine)
        self._writes: GroupedStatements[Write, bool] = GroupedStatements(self._write, _key)
        self._write_timeout_s = write_timeout_s

    async def add(self, entry: IndexEntry) -> None:
        if not await self._writes.submit(_insert_of(entry, COMPLETE)):
            raise _exists(entry.kind, entry.artifact_id)

    async def claim(self, entry: IndexEntry) -> IndexEntry | None:
        insert = _insert_of(entry, PENDING)
        while True:
            if await self._writes.submit(insert):
                return None
            held = await self.get(entry.kind, entry.artifact_id)
            if held is not None:
                return held
            # Released between our insert and our read: try again.

    async def complete(self, kind: str, artifact_id: str, summary: dict[str, Any] | None = None) -> None:
        text = None if summary is None else json.dumps(summary)
        if not await self._writes.submit((_UPDATE, kind, artifact_id, text)):
            raise NotFoundError(f"{kind} {artifact_id!r} not found", details={"kind": kind, "artifact_id": artifact_id})

    async def _write(self, writes: Sequence[Write]) -> list[bool]:
        """Per write: inserted (else its key was taken), or completed (else there is no entry)."""
        inserts = [w[1:] for w in writes if w[0] is _INSERT]
        updates = [w[1:] for w in writes if w[0] is _UPDATE]
        arguments = [*_columns(inserts, 9), *_columns(updates, 3)]
        done = await run_statement(self._engine, "index write",
                                   lambda conn: conn.fetch(_WRITE, *arguments, timeout=self._write_timeout_s))
        took = {(bool(r[0]), r[1], r[2]) for r in done}
        return [(w[0], w[1], w[2]) in took for w in writes]

    async def get(self, kind: str, artifact_id: str) -> IndexEntry | None:
        row = await run_statement(self._engine, "artifact lookup", lambda conn: conn.fetchrow(_GET, kind, artifact_id))
        return None if row is None else _entry_of(row)



def _key(write: Write) -> tuple[str, str]:
    return write[1], write[2]


def _columns(rows: list[Write], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _exists(kind: str, artifact_id: str) -> ArtifactExistsError:
    return ArtifactExistsError(f"{kind} {artifact_id!r} already exists",
                               details={"kind": kind, "artifact_id": artifact_id})


def _insert_of(entry: IndexEntry, state: str) -> Write:
    created_at = as_utc(entry.created_at)
    claimed_at = as_utc(entry.claimed_at or entry.created_at) if state == PENDING else None
    summary = None if entry.summary is None else json.dumps(entry.summary)
    return (_INSERT, entry.kind, entry.artifact_id, entry.owner_key_id, entry.day, entry.rel_ref, created_at,
            summary, state, claimed_at)


def _entry_of(row: Any) -> IndexEntry:
    # The engine's JSON codec has decoded summary_json already; timestamps come back aware.
    kind, artifact_id, owner, day, rel_ref, created_at, summary, state, claimed_at = row
    return IndexEntry(kind=kind, artifact_id=artifact_id, owner_key_id=owner, day=day, rel_ref=rel_ref,
                      created_at=as_utc(created_at), summary=summary, state=state,
                      claimed_at=None if claimed_at is None else as_utc(claimed_at))
