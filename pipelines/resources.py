"""Dagster resources for PostgreSQL, Redis and the warehouse, configured per environment.

Server mode: URLs come from the environment as `EnvVar`s, so the UI shows the variable's name,
never a password. Embedded mode: the URLs name local sockets and paths under the data dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import redis
from clickhouse_connect.driver.client import Client
from sqlalchemy.engine import Engine

from core.db import engine_for
from core.runtime import resolve
from core.settings import Settings
from warehouse.client import warehouse_client


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

    @contextmanager
    def client(self) -> Iterator[Client]:
        with warehouse_client(self.clickhouse_url, lock_timeout_s=self.lock_timeout_s) as client:
            yield client


def _from_env_or(value: str, variable: str, configured: str | None) -> str | dg.EnvVar:
    return dg.EnvVar(variable) if configured else value


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    endpoints = resolve(settings, start=False)
    return {
        "postgres": PostgresResource(
            database_url=_from_env_or(endpoints.database_url, "DATABASE_URL", settings.database_url)
        ),
        "redis": RedisResource(redis_url=_from_env_or(endpoints.redis_url, "REDIS_URL", settings.redis_url)),
        "warehouse": WarehouseResource(
            clickhouse_url=_from_env_or(endpoints.clickhouse_url, "CLICKHOUSE_URL", settings.clickhouse_url)
        ),
    }
