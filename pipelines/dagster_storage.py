"""Dagster's run and event-log storage in PostgreSQL, holding a pooled connection in every process.

Outside its webserver, dagster-postgres opens a new connection for every event it stores and every run update
(NullPool), and a run of the rollups stores dozens of events per day it builds. These storages apply
everywhere the settings dagster-postgres gives its own webserver: one connection kept open, a few more while
threads of the same process (the daemon's) write at once, each recycled after an hour. The instance
`hotelctl` writes and `deploy/dagster/dagster.yaml` name them; schedules keep the stock storage (rarely
written).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_S = 3600
MAX_OVERFLOW = 5  # connections beyond the pooled one, while several threads of one process write
STATEMENT_TIMEOUT_MS = 0  # none: a run's own storage calls are never cut short (the webserver sets its own)


class _Pooled:
    """Mixed into a dagster-postgres storage: its engine pooled from the start, closed with the instance."""

    _engine: Any

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.optimize_for_webserver(STATEMENT_TIMEOUT_MS, POOL_RECYCLE_S, MAX_OVERFLOW)

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        previous = self._engine
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)  # the webserver's own
        previous.dispose()  # a replaced pool's connection closes now, not whenever it is collected

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    """dagster-postgres' event log storage with a pooled connection (see the module docstring)."""


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):
    """dagster-postgres' run storage with a pooled connection (see the module docstring)."""


STORAGES = (("run_storage", __name__, "PooledPostgresRunStorage"),
            ("event_log_storage", __name__, "PooledPostgresEventLogStorage"),
            ("schedule_storage", "dagster_postgres.schedule_storage", "PostgresScheduleStorage"))


def storage_yaml(postgres_url: str) -> str:
    """The instance's storage sections (dagster.yaml): runs and events pooled, schedules stock."""
    return "".join(f"{section}:\n  module: {module}\n  class: {name}\n  config:\n    postgres_url: \"{postgres_url}\"\n"
                   for section, module, name in STORAGES)
