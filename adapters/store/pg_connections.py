"""PostgreSQL connections without a ping per checkout (ADR 0043): how a connection the server
dropped is told apart and replaced, and single statements on asyncpg itself.

A pooled connection can be dead in three ways, and none needs a round trip to notice:

* **Closed**: the server ended it (``pg_terminate_backend``, a restart, an idle timeout) and
  the event loop has read the socket's end. ``is_closed()`` says so; the checkout refuses it
  and SQLAlchemy's pool opens another (``refuse_closed_connection``).
* **Dying**: the server's FATAL message has been read but the socket's end not yet (a
  backend takes a moment to exit). asyncpg then holds the connection in an error state; the
  next statement fails at once, before anything is sent, with "another operation is in
  progress". ``unusable_connection`` recognises that: single statements retry on another
  connection (``run_statement``); through SQLAlchemy it counts as a disconnect
  (``mark_lost_connections``) — the connection is discarded and the caller gets
  ``StorageUnavailableError`` (retryable).
* **Lost under a statement** (a kill mid-statement, a network cut): the statement fails,
  the connection is discarded, the caller gets ``StorageUnavailableError``. Whether the
  statement took effect is unknown, exactly as with a ping before it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.store.errors import unavailable_on_driver_error, unavailable_sqlstate
from domain.errors import StorageUnavailableError

T = TypeVar("T")


def refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """SQLAlchemy ``checkout`` listener: a connection the server closed is discarded and the
    pool checks out (or opens) another."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def unusable_connection(error: BaseException | None) -> bool:
    """An asyncpg error raised before anything was sent, because the connection is closed or
    dying (see the module docstring). Looks through SQLAlchemy's wrapping."""
    while error is not None:
        if isinstance(error, asyncpg.InternalClientError) and "another operation" in str(error):
            return True
        if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
            return True
        error = error.__cause__
    return False


def mark_lost_connections(context: ExceptionContext) -> None:
    """SQLAlchemy ``handle_error`` listener. A dying connection is a disconnect (SQLAlchemy's
    asyncpg dialect only asks ``is_closed()``). Only the failed connection is discarded, not
    the whole pool: the others are checked at their own checkout."""
    if unusable_connection(context.original_exception):
        context.is_disconnect = True
    if context.is_disconnect:
        context.invalidate_pool_on_disconnect = False


class _NotSent(Exception):
    pass


async def run_statement(engine: AsyncEngine, what: str, statement: Callable[[Any], Awaitable[T]]) -> T:
    """``statement(conn)`` on an asyncpg connection of ``engine``'s pool, in autocommit (one
    statement, one round trip; there is no transaction to roll back on return). A connection
    found dying before the statement was sent is discarded and the statement runs once more
    on another. ``StorageUnavailableError`` for anything that says the database cannot be
    used now."""
    for attempt in (1, 2):
        try:
            return await _run_once(engine, what, statement)
        except _NotSent as not_sent:
            if attempt == 2:
                raise _unavailable(what) from not_sent.__cause__
    raise AssertionError("unreachable")


async def _run_once(engine: AsyncEngine, what: str, statement: Callable[[Any], Awaitable[T]]) -> T:
    async with unavailable_on_driver_error(what):
        proxied = await engine.raw_connection()
    conn: Any = proxied.driver_connection
    keep = False
    try:
        result = await statement(conn)
        keep = True
        return result
    except asyncpg.PostgresError as error:
        # Only an ordinary statement error (the server answered and is ready for the next)
        # leaves the connection usable; a FATAL one arrives before the socket closes.
        keep = not (unavailable_sqlstate(error.sqlstate) or error.severity in ("FATAL", "PANIC")
                    or conn.is_closed())
        if not keep:
            raise _unavailable(what) from error
        raise
    except (asyncpg.InterfaceError, asyncpg.InternalClientError) as error:
        if unusable_connection(error):
            raise _NotSent() from error
        raise _unavailable(what) from error
    except (OSError, TimeoutError) as error:
        raise _unavailable(what) from error
    finally:
        # Anything but a clean answer (a lost connection, a cancelled statement) discards it.
        if keep:
            proxied.close()
        else:
            proxied.invalidate()


def _unavailable(what: str) -> StorageUnavailableError:
    return StorageUnavailableError(f"{what}: the database is unavailable", retryable=True)
