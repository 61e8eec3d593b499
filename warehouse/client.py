"""The one way into ClickHouse: clickhouse-connect, for a server or for embedded chDB.

chDB lets one process open a data path at a time, so in embedded mode every use takes an
exclusive file lock beside the data and closes the session when done: no long-lived process
holds the path, and two steps never open it together.
"""

from __future__ import annotations

import fcntl
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
import psycopg
from clickhouse_connect.driver.client import Client

from core.db import plain_url

DATABASE = "hotel_analytics"

# Embedded clients: while one is open, no other session anywhere can read or write its data (the path lock).
_ALONE: weakref.WeakSet[Client] = weakref.WeakSet()


def is_embedded(url: str) -> bool:
    return url.startswith("chdb:")


def _chdb_path(url: str) -> Path:
    return Path(url.split("://", 1)[1])


@contextmanager
def _path_lock(path: Path, timeout_s: float | None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock_file:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"chDB data at {path} is in use by another process") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def warehouse_client(url: str, lock_timeout_s: float | None = None) -> Iterator[Client]:
    """A clickhouse-connect client for `url`; closed (and the chDB path released) on exit."""
    if is_embedded(url):
        path = _chdb_path(url)
        with _path_lock(path, lock_timeout_s):
            client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
            _ALONE.add(client)
            try:
                yield client
            finally:
                _ALONE.discard(client)
                client.close()
        return
    parts = urlsplit(url)
    client = clickhouse_connect.get_client(
        host=parts.hostname,
        port=parts.port or (8443 if parts.scheme == "https" else 8123),
        username=parts.username or "default",
        password=parts.password or "",
        secure=parts.scheme == "https",
        connect_timeout=5,
    )
    try:
        yield client
    finally:
        client.close()


@contextmanager
def warehouse_lock(url: str, database_url: str, name: str, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the lock `name` of the warehouse at `url` until exit: steps taking it, in any process, run one at a time.

    A server warehouse: a PostgreSQL advisory lock in `database_url` keyed by the warehouse's address, released
    when its connection closes (also if the process dies). Embedded: nothing to take, a chDB session already
    holds the data alone (the path lock).
    """
    if is_embedded(url):
        yield
        return
    if not database_url:
        raise ValueError(f"lock '{name}' of the warehouse at {urlsplit(url).hostname}: no PostgreSQL to hold it")
    parts = urlsplit(url)
    key = f"warehouse {parts.hostname}:{parts.port} {DATABASE} {name}"
    with psycopg.connect(plain_url(database_url), autocommit=True) as conn:
        if timeout_s is not None:
            conn.execute(f"SET lock_timeout = {int(timeout_s * 1000)}")
        try:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        except psycopg.errors.LockNotAvailable:
            raise TimeoutError(f"the warehouse's {name} lock is held by another step") from None
        yield  # the lock goes with the connection


def holds_data_alone(client: Client) -> bool:
    """True for an open embedded client: nothing else reads or writes the warehouse until it closes."""
    return client in _ALONE


def check_clickhouse(url: str, timeout_s: float = 2.0) -> str:
    """The engine's version. Embedded: a running pipeline step holding the path counts as alive."""
    try:
        with warehouse_client(url, lock_timeout_s=timeout_s) as client:
            return str(client.query("SELECT version()").result_rows[0][0])
    except TimeoutError:
        return "busy (in use by a pipeline step)"
