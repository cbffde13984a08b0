"""Statements of one kind from concurrent callers, sent as one statement (ADR 0043).

The PostgreSQL counterpart of the SQLite index's group commit (ADR 0007): while one statement
is on its way, the rows queued meanwhile wait, and the next statement carries all of them
(``unnest`` of one array per column). A caller alone sends at once; under load one round trip,
one commit and one wake-up serve many requests. Each caller still gets its own outcome:

* a row the statement did not take (``RETURNING`` does not list it) is the caller's own result
  (a conflict, a missing row), decided by the adapter;
* ``StorageUnavailableError`` fails the rows of that statement, each with its own error;
* any other error (a bug in one row, say a value too long) sends the rows again one by one,
  so only the bad row fails.

A key (kind, artifact_id) appears once per statement; a second row for it waits for the next.
A caller cancelled before its row was sent sends nothing; once sent, a row may still commit.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from domain.errors import StorageUnavailableError

Row = TypeVar("Row")
Out = TypeVar("Out")

# Enough to amortise a round trip and a commit; small enough that one statement stays quick.
MAX_ROWS = 128


class _Queue(Generic[Row, Out]):
    __slots__ = ("flusher", "waiting")

    def __init__(self) -> None:
        self.waiting: list[tuple[Row, asyncio.Future[Out]]] = []
        self.flusher: asyncio.Task[None] | None = None


class GroupedStatements(Generic[Row, Out]):
    """``send(rows)`` answers one outcome per row, in order; ``key(row)`` names a row's target."""

    def __init__(self, send: Callable[[Sequence[Row]], Awaitable[list[Out]]], key: Callable[[Row], Hashable]) -> None:
        self._send = send
        self._key = key
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[Row, Out]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, row: Row) -> Out:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[Out] = loop.create_future()
        queue.waiting.append((row, future))
        if queue.flusher is None:
            queue.flusher = loop.create_task(self._flush(queue), name="pg-grouped-statements")
        return await future

    async def _flush(self, queue: _Queue[Row, Out]) -> None:
        try:
            while queue.waiting:
                batch: list[tuple[Row, asyncio.Future[Out]]] = []
                later: list[tuple[Row, asyncio.Future[Out]]] = []
                keys: set[Hashable] = set()
                for row, future in queue.waiting:
                    if future.done():  # its caller was cancelled before the row was sent
                        continue
                    key = self._key(row)
                    if key in keys or len(batch) >= MAX_ROWS:
                        later.append((row, future))
                    else:
                        keys.add(key)
                        batch.append((row, future))
                queue.waiting = later
                if batch:
                    await self._run(batch)
        except BaseException as error:  # the loop is closing: nobody is left to send for them
            for _row, future in queue.waiting:
                if not future.done():
                    future.set_exception(_unavailable(error))
            raise
        finally:
            queue.flusher = None

    async def _run(self, batch: list[tuple[Row, asyncio.Future[Out]]]) -> None:
        rows = [row for row, _ in batch]
        try:
            outcomes: list[Any] = await self._send(rows)
        except StorageUnavailableError as error:
            outcomes = [_copy(error) for _ in rows]
        except Exception as error:  # one bad row must not fail the others
            outcomes = [error] if len(rows) == 1 else [await self._alone(row) for row in rows]
        except BaseException as error:
            for _row, future in batch:
                if not future.done():
                    future.set_exception(_unavailable(error))
            raise
        for (_row, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _alone(self, row: Row) -> Any:
        try:
            return (await self._send([row]))[0]
        except Exception as error:
            return error


def _copy(error: StorageUnavailableError) -> StorageUnavailableError:
    """Each waiting caller raises its own exception object (a traceback is per raise)."""
    copy = type(error)(error.message, code=error.code, details=error.details)
    copy.__cause__ = error.__cause__
    return copy


def _unavailable(error: BaseException) -> StorageUnavailableError:
    copy = StorageUnavailableError("artifact index: the statement was not sent", retryable=True)
    copy.__cause__ = error
    return copy
