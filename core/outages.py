"""Telling a store that is down from a bug: which engine an exception says is unreachable, if any.

The API answers such a failure with 503 and a code naming the store (`hot_cache_unavailable`,
`database_unavailable`) instead of a 500, and the quote path falls back from Redis to PostgreSQL.
"""

from __future__ import annotations

import asyncpg
import psycopg
import sqlalchemy.exc
from redis import exceptions as redis_errors

HOT_CACHE = "hot_cache_unavailable"
DATABASE = "database_unavailable"
RETRY_AFTER_S = 5

# Redis unreachable, timed out, or still loading its data (BusyLoadingError is a ConnectionError).
HOT_CACHE_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError)
# SQLSTATE classes of a PostgreSQL that is not there: connection exceptions (08), shutting down or starting up
# (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
_DOWN_STATES = ("08", "57P01", "57P02", "57P03")
_DRIVERS = ("asyncpg", "psycopg", "sqlalchemy")


def unavailable_store(exc: BaseException) -> str | None:
    """`HOT_CACHE` or `DATABASE` when `exc` (or what caused it) says that store is unreachable, else None."""
    seen = 0
    while exc is not None and seen < 8:
        store = _store_of(exc)
        if store is not None:
            return store
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _store_of(exc: BaseException) -> str | None:
    if isinstance(exc, HOT_CACHE_DOWN):
        return HOT_CACHE
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return DATABASE if exc.connection_invalidated or _down_state(exc.orig) else None
    if isinstance(exc, asyncpg.PostgresError | psycopg.Error):
        return DATABASE if _down_state(exc) else None
    if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError):  # lost in the middle of a query
        return DATABASE
    # The server dropping a connection mid-exchange leaves asyncpg's protocol confused: seen at a pool release
    # ("cannot switch to state 15; another operation is in progress") while PostgreSQL shut down.
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return DATABASE
    if isinstance(exc, OSError) and _raised_in(exc, _DRIVERS):  # refused, socket gone, timed out (TimeoutError)
        return DATABASE
    return None


def _down_state(exc: BaseException | None) -> bool:
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return True  # psycopg's "connection failed" carries no SQLSTATE
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith(_DOWN_STATES)


def _raised_in(exc: BaseException, packages: tuple[str, ...]) -> bool:
    """Whether the exception passed through one of these packages' code (a database driver's socket)."""
    frame = exc.__traceback__
    while frame is not None:
        module = frame.tb_frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in packages:
            return True
        frame = frame.tb_next
    return False
