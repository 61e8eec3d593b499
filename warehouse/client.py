"""The one way into ClickHouse: clickhouse-connect, for a server or for embedded chDB.

chDB lets one process open a data path at a time, so in embedded mode every use takes an
exclusive file lock beside the data and closes the session when done, and two steps never open it
together. One long-lived process may keep its session between uses (`HeldWarehouse`, the API's report
pages: opening the warehouse costs more than a report's queries); it gives the path up when idle, and
at once whenever another process waits for it (waiters say so in a `.wanted` file beside the lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
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


WANT_FRESH_S = 1.0  # a `.wanted` file touched this recently means someone is waiting for the path


def _wanted_file(path: Path) -> Path:
    return path.parent / f"{path.name}.wanted"


def _want(path: Path, waiter: str) -> None:
    """Say that `waiter` waits for the path (a holder keeping it between uses then lets it go)."""
    wanted = _wanted_file(path)
    scratch = wanted.with_name(f"{wanted.name}.{waiter}")
    scratch.write_text(waiter)
    os.replace(scratch, wanted)


def _wanted_by_other(path: Path, waiter: str) -> bool:
    try:
        wanted = _wanted_file(path)
        return time.time() - wanted.stat().st_mtime < WANT_FRESH_S and wanted.read_text() != waiter
    except OSError:
        return False


def _withdraw(path: Path, waiter: str) -> None:
    try:
        if _wanted_file(path).read_text() == waiter:
            _wanted_file(path).unlink()
    except OSError:
        pass


@contextmanager
def _path_lock(path: Path, timeout_s: float | None, waiter: str | None = None,
               give_way: bool = False) -> Iterator[None]:
    """The path's exclusive lock. While it waits, the caller says so (`_want`); `give_way`: also wait while
    another caller says it waits (a `HeldWarehouse` coming back lets the pipelines, or another worker, go
    first; only one caller is named in the file at a time, so two such never wait for each other)."""
    waiter = waiter or uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock_file:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        announced = 0.0
        while True:
            try:
                if give_way and _wanted_by_other(path, waiter):
                    raise BlockingIOError
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() > deadline:
                    _withdraw(path, waiter)
                    raise TimeoutError(f"chDB data at {path} is in use by another process") from None
                if time.monotonic() - announced > WANT_FRESH_S / 4:
                    _want(path, waiter)
                    announced = time.monotonic()
                time.sleep(0.05)
        _withdraw(path, waiter)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def warehouse_client(url: str, lock_timeout_s: float | None = None, *, waiter: str | None = None,
                     give_way: bool = False) -> Iterator[Client]:
    """A clickhouse-connect client for `url`; closed (and the chDB path released) on exit. `waiter` and
    `give_way`: how an embedded client waits for the path (`_path_lock`)."""
    if is_embedded(url):
        path = _chdb_path(url)
        with _path_lock(path, lock_timeout_s, waiter, give_way):
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


def check_clickhouse(url: str, timeout_s: float = 2.0, held: HeldWarehouse | None = None) -> str:
    """The engine's version. Embedded: a running pipeline step holding the path counts as alive."""
    try:
        with held.client(timeout_s) if held is not None else warehouse_client(url, timeout_s) as client:
            return str(client.query("SELECT version()").result_rows[0][0])
    except TimeoutError:
        return "busy (in use by a pipeline step)"


class HeldWarehouse:
    """The warehouse of a long-lived process, kept open between uses (`client()`; one use at a time).

    Embedded, the session and the path's lock are kept until the session has been idle `hold_s` seconds or
    another process waits for the path, whichever comes first (a watcher thread checks every
    WATCH_INTERVAL_S, between uses); `hold_s` 0 opens and closes the warehouse for every use. A server
    warehouse gets a client per use, as `warehouse_client` gives it.
    """

    WATCH_INTERVAL_S = 0.1

    def __init__(self, url: str, hold_s: float = 60.0, lock_timeout_s: float = 10.0) -> None:
        self.url = url
        self.hold_s = hold_s
        self.lock_timeout_s = lock_timeout_s
        self.uses = 0
        self.opens = 0  # uses that opened the warehouse (the rest found it open)
        self._waiter = uuid.uuid4().hex
        self._use = threading.Lock()
        self._client: Client | None = None
        self._held: contextlib.ExitStack | None = None  # the open `warehouse_client`
        self._last_use = 0.0
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None

    @contextmanager
    def client(self, lock_timeout_s: float | None = None) -> Iterator[Client]:
        timeout_s = self.lock_timeout_s if lock_timeout_s is None else lock_timeout_s
        if not is_embedded(self.url):
            with warehouse_client(self.url, timeout_s) as client:
                self.uses += 1
                self.opens += 1
                yield client
            return
        if not self._use.acquire(timeout=timeout_s):
            raise TimeoutError("the warehouse is in use by another request")
        try:
            if self._client is None:
                self._open(timeout_s)
            self.uses += 1
            try:
                yield self._client
            except BaseException:
                self._release()  # a session that failed is not kept
                raise
            if self.hold_s <= 0:
                self._release()
            self._last_use = time.monotonic()
        finally:
            self._use.release()

    def close(self) -> None:
        self._closed.set()
        with self._use:
            self._release()

    def _open(self, timeout_s: float) -> None:
        held = contextlib.ExitStack()
        self._client = held.enter_context(warehouse_client(self.url, timeout_s, waiter=self._waiter, give_way=True))
        self._held = held
        self.opens += 1
        if self._watcher is None and self.hold_s > 0:
            self._watcher = threading.Thread(target=self._watch, name="warehouse-holder", daemon=True)
            self._watcher.start()

    def _release(self) -> None:
        held, self._client, self._held = self._held, None, None
        if held is not None:
            held.close()

    def _watch(self) -> None:
        path = _chdb_path(self.url)
        while not self._closed.wait(self.WATCH_INTERVAL_S):
            if self._client is None:
                continue
            idle = time.monotonic() - self._last_use > self.hold_s
            if (idle or _wanted_by_other(path, self._waiter)) and self._use.acquire(blocking=False):
                try:
                    self._release()
                finally:
                    self._use.release()
