"""The config-center client: every config key and feature flag cached in memory.

Loads everything at start, then keeps the cache fresh two ways:
- PostgreSQL LISTEN on `platform_config_changed` / `feature_flags_changed` (payload: the key or
  flag name only; migration 0002 installs the triggers): that one entry is re-read at once;
- a full reload every `poll_interval_s` (30 s by default) as the fallback when notifications are
  lost or unavailable (e.g. behind a transaction-mode pooler), and after every reconnect.

`get(key, default)` and `flag_on(name, tenant_id)` read only the in-memory dicts: never the
database on the hot path. Flags are evaluated by `core.config.Flag.is_on` (murmur3 rollout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import asyncpg

from core.config import Flag
from core.db import plain_url

logger = logging.getLogger("config_center")

CONFIG_CHANNEL = "platform_config_changed"
FLAGS_CHANNEL = "feature_flags_changed"
APPLICATION_NAME = "hotel-config-center"  # visible in pg_stat_activity
_RECONNECT = object()

_CONFIG_SQL = ("SELECT key, value, env FROM platform_config WHERE env = $1 OR env = 'production'"
               " ORDER BY (env = $1)")
_FLAGS_SQL = "SELECT name, enabled, rollout_pct, whitelist FROM feature_flags"


def _decode(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _flag(row: asyncpg.Record) -> Flag:
    return Flag(row["name"], row["enabled"], row["rollout_pct"], tuple(row["whitelist"] or ()))


class ConfigCenter:
    """In-memory config and flags for one environment (`HOTEL_ENV`), refreshed in the background."""

    def __init__(self, database_url: str, env: str = "production", poll_interval_s: float = 30.0,
                 listen: bool = True, reconnect_delay_s: float = 1.0) -> None:
        self.database_url = plain_url(database_url)
        self.env = env
        self.poll_interval_s = poll_interval_s
        self.listen = listen
        self.reconnect_delay_s = reconnect_delay_s
        self._config: dict[str, Any] = {}
        self._flags: dict[str, Flag] = {}
        self._events: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._loaded = asyncio.Event()
        self.stats = {"full_loads": 0, "key_refreshes": 0, "notifications": 0, "reconnects": 0}
        self.last_loaded_at: float | None = None

    # --- hot path: memory only -----------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        return self._config.get(key, default)

    def flag(self, name: str) -> Flag | None:
        return self._flags.get(name)

    def flag_on(self, name: str, tenant_id: str | None = None) -> bool:
        flag = self._flags.get(name)
        return bool(flag and flag.is_on(tenant_id))

    def config_snapshot(self) -> dict[str, Any]:
        return dict(self._config)

    def flags_snapshot(self) -> dict[str, Flag]:
        return dict(self._flags)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self, wait_s: float = 5.0) -> None:
        """Start the background refresher and wait (bounded) for the first full load."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="config-center")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loaded.wait(), wait_s)
        if not self._loaded.is_set():
            logger.warning("config center: first load not finished; serving defaults until it is")

    async def stop(self) -> None:
        task, self._task = self._task, None
        while task is not None and not task.done():  # bounded: never hang an app's shutdown
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        if task is not None and not task.cancelled() and task.exception() is not None:
            logger.warning("config center: refresher ended with an error",
                           extra={"context": {"error": type(task.exception()).__name__}})

    async def reload(self) -> None:
        """Force a full reload now (over a short-lived connection)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            await self._load_all(conn)
        finally:
            await conn.close()

    # --- background ----------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.reconnect_delay_s
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.database_url, timeout=10,
                                             server_settings={"application_name": APPLICATION_NAME})
                conn.add_termination_listener(lambda _conn: self._events.put_nowait(_RECONNECT))
                if self.listen:
                    await conn.add_listener(CONFIG_CHANNEL, self._on_notify)
                    await conn.add_listener(FLAGS_CHANNEL, self._on_notify)
                while not self._events.empty():  # anything queued before this (re)connect is covered below
                    self._events.get_nowait()
                await self._load_all(conn)  # on start and on every reconnect
                delay = self.reconnect_delay_s
                await self._serve(conn)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                logger.warning("config center: connection problem, reconnecting",
                               extra={"context": {"error": str(error)}})
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            self.stats["reconnects"] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(self.poll_interval_s, self.reconnect_delay_s))

    async def _serve(self, conn: asyncpg.Connection) -> None:
        next_poll = time.monotonic() + self.poll_interval_s
        while True:
            timeout = max(0.0, next_poll - time.monotonic())
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for drops a cancel that lands as an event
                # arrives (a NOTIFY at shutdown), and stop() would wait for this loop forever.
                async with asyncio.timeout(timeout):
                    event = await self._events.get()
            except TimeoutError:
                await self._load_all(conn)
                next_poll = time.monotonic() + self.poll_interval_s
                continue
            if event is _RECONNECT or conn.is_closed():
                return
            channel, key = event
            if not key:
                await self._load_all(conn)
            elif channel == CONFIG_CHANNEL:
                await self._refresh_key(conn, key)
            else:
                await self._refresh_flag(conn, key)

    def _on_notify(self, _conn, _pid, channel: str, payload: str) -> None:
        self.stats["notifications"] += 1
        self._events.put_nowait((channel, payload))

    async def _load_all(self, conn: asyncpg.Connection) -> None:
        config_rows = await conn.fetch(_CONFIG_SQL, self.env)
        flag_rows = await conn.fetch(_FLAGS_SQL)
        self._config = {row["key"]: _decode(row["value"]) for row in config_rows}  # env's own row last: wins
        self._flags = {row["name"]: _flag(row) for row in flag_rows}
        self.stats["full_loads"] += 1
        self.last_loaded_at = time.time()
        self._loaded.set()

    async def _refresh_key(self, conn: asyncpg.Connection, key: str) -> None:
        rows = await conn.fetch(
            "SELECT value, env FROM platform_config WHERE key = $2 AND (env = $1 OR env = 'production')"
            " ORDER BY (env = $1)", self.env, key)
        config = dict(self._config)  # copy-on-write: readers never see a half-updated dict
        if rows:
            config[key] = _decode(rows[-1]["value"])
        else:
            config.pop(key, None)
        self._config = config
        self.stats["key_refreshes"] += 1

    async def _refresh_flag(self, conn: asyncpg.Connection, name: str) -> None:
        row = await conn.fetchrow(_FLAGS_SQL + " WHERE name = $1", name)
        flags = dict(self._flags)
        if row is None:
            flags.pop(name, None)
        else:
            flags[name] = _flag(row)
        self._flags = flags
        self.stats["key_refreshes"] += 1
