"""Dagster resources for PostgreSQL, Redis and the warehouse, configured per environment.

Server mode: URLs come from the environment as `EnvVar`s, so the UI shows the variable's name,
never a password. Embedded mode: the URLs name local sockets and paths under the data dir.

`fx`: where daily exchange rates come from (ECB euro reference XML). `HttpFxProvider` reads
FX_SOURCE_URL (the ECB in production) or, embedded, the simulated FX service `hotelctl up` started;
`FixedFxProvider` is its offline twin (the simulator's rate history, no network).

`archive`: where the raw-feed archive lives. `UrlFeedArchive` names object storage by ARCHIVE_URL (a pyarrow
filesystem URL); `LocalFeedArchive` is its local-folder twin (ARCHIVE_DIR, default <data dir>/archive).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import redis
from clickhouse_connect.driver.client import Client
from sqlalchemy.engine import Engine

from core.archive.store import FeedArchive
from core.db import engine_for
from core.runtime import resolve
from core.settings import Settings
from warehouse.client import warehouse_client, warehouse_lock


class PostgresResource(dg.ConfigurableResource):
    """The operational PostgreSQL database (source of truth)."""

    database_url: str

    def engine(self) -> Engine:
        return engine_for(self.database_url)


class RedisResource(dg.ConfigurableResource):
    """The hot cache that quotes read."""

    redis_url: str

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)


class WarehouseResource(dg.ConfigurableResource):
    """ClickHouse through clickhouse-connect; embedded chDB is opened per use and released."""

    clickhouse_url: str
    lock_timeout_s: float = 900.0
    # Where steps on a ClickHouse server take the warehouse's locks (`exclusive`); embedded needs none.
    lock_database_url: str = ""

    @contextmanager
    def client(self) -> Iterator[Client]:
        with warehouse_client(self.clickhouse_url, lock_timeout_s=self.lock_timeout_s) as client:
            yield client

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Run the block alone among the steps taking `name` on this warehouse (see `warehouse_lock`)."""
        with warehouse_lock(self.clickhouse_url, self.lock_database_url, name, self.lock_timeout_s):
            yield


class FxProviderResource(dg.ConfigurableResource):
    """A source of euro reference rate documents (the ECB's `eurofxref` XML)."""

    def fetch_xml(self) -> str:
        raise NotImplementedError

    def source_name(self) -> str:
        raise NotImplementedError


class HttpFxProvider(FxProviderResource):
    """The rates over HTTP: `url` (FX_SOURCE_URL), else the simulated FX service named by `port_file`."""

    url: str = ""
    port_file: str = ""
    timeout_s: float = 15.0

    def _url(self) -> str:
        if self.url:
            return self.url
        from core.fx_rates import ECB_HISTORY_PATH

        try:
            port = Path(self.port_file).read_text().strip()
        except OSError:
            raise RuntimeError("FX_SOURCE_URL is unset and no simulated FX service runs (start it with "
                               "`hotelctl up`)") from None
        return f"http://127.0.0.1:{port}{ECB_HISTORY_PATH}"

    def fetch_xml(self) -> str:
        import httpx

        response = httpx.get(self._url(), timeout=self.timeout_s, follow_redirects=True)
        response.raise_for_status()
        return response.text

    def source_name(self) -> str:
        return "ecb-xml" if self.url else "fx-simulator"


class FixedFxProvider(FxProviderResource):
    """Offline twin: the simulated service's rate history up to `today` (default: the real today)."""

    today: str = ""

    def fetch_xml(self) -> str:
        from core.fx_rates import ecb_xml
        from suppliers.sim_fx import history

        return ecb_xml(history(dt.date.fromisoformat(self.today) if self.today else dt.date.today()))

    def source_name(self) -> str:
        return "fixed"


class FeedArchiveResource(dg.ConfigurableResource):
    """The raw-feed archive (core/archive): supplier answers and parsed rows as Parquet by supplier and day."""

    retention_days: int = 30
    enabled: bool = True

    def location(self) -> str:
        raise NotImplementedError

    def archive(self) -> FeedArchive | None:
        """The archive to write to, or None when archiving is switched off."""
        return FeedArchive(self.location()) if self.enabled else None

    def reader(self) -> FeedArchive:
        return FeedArchive(self.location())


class UrlFeedArchive(FeedArchiveResource):
    """The archive in object storage: `url` (ARCHIVE_URL, e.g. s3://bucket/prefix)."""

    url: str

    def location(self) -> str:
        return self.url


class LocalFeedArchive(FeedArchiveResource):
    """Offline twin: the archive in a local folder."""

    path: str

    def location(self) -> str:
        return self.path


def _from_env_or(value: str, variable: str, configured: str | None) -> str | dg.EnvVar:
    return dg.EnvVar(variable) if configured else value


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    endpoints = resolve(settings, start=False)
    database_url = _from_env_or(endpoints.database_url, "DATABASE_URL", settings.database_url)
    return {
        "postgres": PostgresResource(database_url=database_url),
        "redis": RedisResource(redis_url=_from_env_or(endpoints.redis_url, "REDIS_URL", settings.redis_url)),
        "warehouse": WarehouseResource(
            clickhouse_url=_from_env_or(endpoints.clickhouse_url, "CLICKHOUSE_URL", settings.clickhouse_url),
            lock_database_url=database_url,
        ),
        "fx": HttpFxProvider(url=dg.EnvVar("FX_SOURCE_URL")) if settings.fx_source_url else HttpFxProvider(
            port_file=str(settings.data_dir / "suppliers" / "FX.port")),
        "archive": UrlFeedArchive(url=dg.EnvVar("ARCHIVE_URL"), retention_days=settings.archive_retention_days,
                                  enabled=settings.archive_enabled) if settings.archive_url else LocalFeedArchive(
            path=settings.archive_location, retention_days=settings.archive_retention_days,
            enabled=settings.archive_enabled),
    }
