"""Translation of driver failures into port errors — the only place the stores catch them.

Unique violations are translated where they happen (they mean different things per table);
everything that says "the database cannot be reached or used right now" becomes
``StorageUnavailableError`` here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import exc

from domain.errors import StorageUnavailableError

_UNAVAILABLE = (
    exc.OperationalError,  # refused/lost connection, "database is locked", missing table
    exc.InterfaceError,
    exc.DisconnectionError,
    exc.TimeoutError,  # pool checkout timeout
    OSError,  # asyncpg raises ConnectionRefusedError etc. from connect
    TimeoutError,  # asyncpg connect timeout
)


@asynccontextmanager
async def unavailable_on_driver_error(what: str) -> AsyncIterator[None]:
    try:
        yield
    except _UNAVAILABLE as error:
        raise StorageUnavailableError(f"{what}: the database is unavailable", retryable=True) from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise StorageUnavailableError(f"{what}: the database connection was lost", retryable=True) from error
        raise
