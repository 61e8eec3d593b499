"""PostgreSQL connections: one URL, the right driver for each client."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def driver_url(url: str, driver: str) -> str:
    """`postgresql://…` with an explicit SQLAlchemy driver (`psycopg`, `psycopg2`)."""
    rest = url.split("://", 1)[1]
    return f"postgresql+{driver}://{rest}"


def plain_url(url: str) -> str:
    """`postgresql://…` without a driver suffix: what psycopg and asyncpg take."""
    return "postgresql://" + url.split("://", 1)[1]


def with_database(url: str, name: str) -> str:
    """The plain URL of database `name` on `url`'s server (same user, host and options)."""
    return urlunsplit(urlsplit(plain_url(url))._replace(path=f"/{name}"))


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return sa.create_engine(driver_url(url, "psycopg"), pool_pre_ping=True, pool_size=5, max_overflow=5)


def check_postgres(url: str, timeout_s: float = 2.0) -> str:
    import psycopg

    with psycopg.connect(plain_url(url), connect_timeout=max(1, int(timeout_s))) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


@contextmanager
def scratch_database(url: str, prefix: str, keep: bool = False) -> Iterator[str]:
    """A new empty database `<prefix>_<random>` on `url`'s server, as its plain URL; dropped on leaving, with
    any connection still open to it, unless `keep`."""
    import psycopg

    admin = plain_url(url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    scratch = with_database(admin, name)
    try:
        yield scratch
    finally:
        engine_for(scratch).dispose()
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
