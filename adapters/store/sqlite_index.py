"""``ArtifactIndex`` on SQLite with the two per-request statements off SQLAlchemy (ADR 0007).

Every ``/v1/extract`` and every batch item does one lookup before the model call and one
insert after it. Through SQLAlchemy + aiosqlite those cost ~2.9 ms of CPU per request on
the benchmark machine (each statement is several thread hand-offs: checkout, BEGIN,
execute, fetch, COMMIT, release). Here:

* ``get`` runs on the calling thread over its own read connection. In WAL mode a reader
  never waits for the writer, and a primary-key lookup takes microseconds, less than one
  thread hand-off. The read connection has no busy timeout: in the rare cases where SQLite
  still answers "busy" (WAL recovery, a checkpoint resetting the log), the lookup is
  retried on a worker thread that may wait, so the event loop never sleeps in SQLite.
* ``add``, ``claim`` and ``complete`` (ADR 0042) go to one writer thread. It takes every
  write queued meanwhile, commits them in one ``BEGIN IMMEDIATE`` transaction (group commit)
  and wakes the waiting coroutines. A duplicate key fails only its own row (SQLite rolls
  back the statement, not the transaction).
* Paging, summary updates, releases, claim refreshes, deletes and ``ping`` are rare; they go
  to the SQLAlchemy adapter over the same file, which also owns the schema (migrations).

Values are stored exactly as the SQLAlchemy adapter stores them (naive-UTC timestamp text,
JSON text or NULL), so either side reads what the other wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from adapters.store.artifact_index import RareMethodsOnSql, SqlArtifactIndex
from adapters.store.engine import configure_sqlite
from adapters.store.timestamps import as_utc
from application.ports.artifact_index import COMPLETE, PENDING, IndexEntry
from domain.errors import ArtifactExistsError, NotFoundError, StorageUnavailableError

logger = logging.getLogger("ocr.store")

_GET = ("SELECT kind, artifact_id, owner_key_id, day, rel_ref, created_at, summary_json, state, claimed_at "
        "FROM artifact_index WHERE kind = ? AND artifact_id = ?")
_INSERT = ("INSERT INTO artifact_index (kind, artifact_id, owner_key_id, day, rel_ref, created_at, "
           "summary_json, state, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_COMPLETE = ("UPDATE artifact_index SET state = 'complete', claimed_at = NULL, "
             "summary_json = COALESCE(?, summary_json) WHERE kind = ? AND artifact_id = ?")
# Enough to amortise a commit, small enough that one slow batch does not hold many callers.
_MAX_GROUP = 128
_STOP = object()


def _stored_time(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime writes for a naive UTC value."""
    utc = as_utc(value)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond:06d}"


def _row_of(entry: IndexEntry, state: str) -> tuple[Any, ...]:
    summary = None if entry.summary is None else json.dumps(entry.summary)
    claimed_at = _stored_time(entry.claimed_at or entry.created_at) if state == PENDING else None
    return (entry.kind, entry.artifact_id, entry.owner_key_id, entry.day, entry.rel_ref,
            _stored_time(entry.created_at), summary, state, claimed_at)


def _read_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _entry_of(row: tuple[Any, ...]) -> IndexEntry:
    kind, artifact_id, owner, day, rel_ref, created_at, summary, state, claimed_at = row
    return IndexEntry(kind=kind, artifact_id=artifact_id, owner_key_id=owner, day=day, rel_ref=rel_ref,
                      created_at=datetime.fromisoformat(created_at).replace(tzinfo=UTC),
                      summary=None if summary is None else json.loads(summary), state=state,
                      claimed_at=_read_time(claimed_at))


def _unavailable(what: str, error: BaseException) -> StorageUnavailableError:
    exc = StorageUnavailableError(f"{what}: the database is unavailable", retryable=True)
    exc.__cause__ = error
    return exc


def _connect(path: str, *, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000)
    configure_sqlite(conn, busy_timeout_ms=busy_timeout_ms)
    return conn


class _Pending:
    """One queued write: an INSERT (a duplicate key fails it) or the UPDATE that completes a
    claim (no row fails it)."""

    __slots__ = ("future", "loop", "params", "sql")

    def __init__(self, sql: str, params: tuple[Any, ...], loop: asyncio.AbstractEventLoop,
                 future: asyncio.Future[None]) -> None:
        self.sql, self.params, self.loop, self.future = sql, params, loop, future

    def execute(self, conn: sqlite3.Connection) -> BaseException | None:
        if self.sql is _INSERT:
            try:
                conn.execute(_INSERT, self.params)
            except sqlite3.IntegrityError:
                kind, artifact_id = self.params[0], self.params[1]
                return ArtifactExistsError(f"{kind} {artifact_id!r} already exists",
                                           details={"kind": kind, "artifact_id": artifact_id})
            return None
        if conn.execute(self.sql, self.params).rowcount == 0:
            kind, artifact_id = self.params[-2], self.params[-1]
            return NotFoundError(f"{kind} {artifact_id!r} not found", details={"kind": kind, "artifact_id": artifact_id})
        return None


def _settle(pending: _Pending, error: BaseException | None) -> None:
    if pending.future.done():  # the caller was cancelled; the row may still have been written
        return
    if error is None:
        pending.future.set_result(None)
    else:
        pending.future.set_exception(error)


def _settle_all(outcomes: list[tuple[_Pending, BaseException | None]]) -> None:
    for pending, error in outcomes:
        _settle(pending, error)


class _GroupWriter:
    """One thread, one connection: inserts queued while a commit runs share the next one."""

    def __init__(self, path: str, *, busy_timeout_ms: int) -> None:
        self._path, self._busy_timeout_ms = path, busy_timeout_ms
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, sql: str, params: tuple[Any, ...]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StorageUnavailableError("index artifact: the index is closed", retryable=True)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqlite-index-writer", daemon=True)
                self._thread.start()
        self._queue.put(_Pending(sql, params, loop, future))
        return future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        stopping = False
        while not stopping:
            batch: list[_Pending] = []
            item = self._queue.get()
            while item is not _STOP:
                batch.append(item)
                if len(batch) >= _MAX_GROUP:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stopping = item is _STOP
            if not batch:
                continue
            if conn is None:
                try:
                    conn = _connect(self._path, busy_timeout_ms=self._busy_timeout_ms)
                except sqlite3.Error as error:
                    self._wake([(p, _unavailable("index artifact", error)) for p in batch])
                    continue
            self._wake(self._commit(conn, batch))
        if conn is not None:
            conn.close()

    @staticmethod
    def _commit(conn: sqlite3.Connection, batch: list[_Pending]) -> list[tuple[_Pending, BaseException | None]]:
        outcomes: list[tuple[_Pending, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for pending in batch:
                outcomes.append((pending, pending.execute(conn)))
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return [(p, _unavailable("index artifact", error)) for p in batch]
        return outcomes

    @staticmethod
    def _wake(outcomes: list[tuple[_Pending, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, BaseException | None]]] = {}
        for pending, error in outcomes:
            by_loop.setdefault(pending.loop, []).append((pending, error))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_settle_all, items)


class SqliteArtifactIndex(RareMethodsOnSql):
    """See the module docstring; ``path`` is the SQLite file the ``fallback`` engine uses."""

    def __init__(self, path: str, fallback: SqlArtifactIndex, *, busy_timeout_ms: int = 5000) -> None:
        self._path = path
        self._fallback = fallback
        self._busy_timeout_ms = busy_timeout_ms
        self._writer = _GroupWriter(path, busy_timeout_ms=busy_timeout_ms)
        self._readers = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()

    async def add(self, entry: IndexEntry) -> None:
        await self._writer.submit(_INSERT, _row_of(entry, COMPLETE))

    async def claim(self, entry: IndexEntry) -> IndexEntry | None:
        while True:
            try:
                await self._writer.submit(_INSERT, _row_of(entry, PENDING))
                return None
            except ArtifactExistsError:
                held = await self.get(entry.kind, entry.artifact_id)
            if held is not None:
                return held
            # Released between our insert and our read: try again.

    async def complete(self, kind: str, artifact_id: str, summary: dict[str, Any] | None = None) -> None:
        await self._writer.submit(_COMPLETE, (None if summary is None else json.dumps(summary), kind, artifact_id))

    async def get(self, kind: str, artifact_id: str) -> IndexEntry | None:
        try:
            # fetchall, not fetchone: stepping to the end ends the read transaction at once.
            rows = self._reader().execute(_GET, (kind, artifact_id)).fetchall()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise _unavailable("artifact lookup", error) from error
            rows = await asyncio.to_thread(self._get_waiting, kind, artifact_id)
        except sqlite3.Error as error:
            raise _unavailable("artifact lookup", error) from error
        return _entry_of(rows[0]) if rows else None

    def _get_waiting(self, kind: str, artifact_id: str) -> list[tuple[Any, ...]]:
        try:
            conn = _connect(self._path, busy_timeout_ms=self._busy_timeout_ms)
        except sqlite3.Error as error:
            raise _unavailable("artifact lookup", error) from error
        try:
            return conn.execute(_GET, (kind, artifact_id)).fetchall()
        except sqlite3.Error as error:
            raise _unavailable("artifact lookup", error) from error
        finally:
            conn.close()

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = _connect(self._path, busy_timeout_ms=0)
            with self._opened_lock:
                self._opened.append(conn)
            self._readers.conn = conn
        return conn


    async def aclose(self) -> None:
        await asyncio.to_thread(self._writer.close)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
