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


# SQLSTATE classes that mean "cannot use the database now", not "bad statement":
# 08 connection exception, 28 invalid authorization, 3D unknown database,
# 53 insufficient resources, 57 operator intervention (shutdown, cannot connect now).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "28", "3D", "53", "57"})


def unavailable_sqlstate(sqlstate: object) -> bool:
    """Whether a PostgreSQL SQLSTATE says "cannot use the database now"."""
    return isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES


def _unavailable_sqlstate(error: exc.DBAPIError) -> bool:
    return unavailable_sqlstate(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None))


@asynccontextmanager
async def unavailable_on_driver_error(what: str) -> AsyncIterator[None]:
    try:
        yield
    except _UNAVAILABLE as error:
        raise StorageUnavailableError(
            f"{what}: the database is unavailable", retryable=True
        ) from error
    except exc.DBAPIError as error:
        if error.connection_invalidated or _unavailable_sqlstate(error):
            raise StorageUnavailableError(
                f"{what}: the database is unavailable", retryable=True
            ) from error
        raise
