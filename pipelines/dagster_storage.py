"""Dagster's run and event-log storage in PostgreSQL, holding a pooled connection in every process.

Outside its webserver, dagster-postgres opens a new connection for every event it stores and every run update
(NullPool), and a run of the rollups stores dozens of events per day it builds. These storages apply
everywhere the settings dagster-postgres gives its own webserver: one connection kept open, a few more while
threads of the same process (the daemon's) write at once, each recycled after an hour. The instance
`hotelctl` writes and `deploy/dagster/dagster.yaml` name them; schedules keep the stock storage (rarely
written).

The event-log storage also stores a run's planned events in one transaction: Dagster plans one event per asset
per day of a range run (and one per check), and the stock storage writes each with three statements and a
commit of its own, which held a 30-day run of the rollups ~0.7 s before its first step. And it remembers which
of its tables and columns exist, where the stock storage reflects the schema again for every event that needs
to know (a run of the rollups made 57 catalog queries, now 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import DagsterEventType
from dagster._core.event_api import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from dagster_shared.serdes import serialize_value
from sqlalchemy.engine import Connection

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


_PLANNED = frozenset({DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED})


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    """dagster-postgres' event log storage with a pooled connection, storing a batch of planned events at once
    and remembering the tables and columns it found (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        self._present: set[str] = set()
        super().__init__(*args, **kwargs)

    def has_table(self, table_name: str) -> bool:
        what = f"table {table_name}"
        return what in self._present or self._found(what, super().has_table(table_name))

    def has_asset_key_col(self, column_name: str) -> bool:
        what = f"asset_keys.{column_name}"
        return what in self._present or self._found(what, super().has_asset_key_col(column_name))

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        what = f"asset_keys.{column_name}"
        return what in self._present or self._found(what, super()._has_asset_key_col_on_connection(conn, column_name))

    def _found(self, what: str, present: bool) -> bool:
        """Remember a table or column that exists: the stock storage asks the schema (reflection, several catalog
        queries) on every event that needs to know. Migrations only add tables and columns; one not found yet is
        asked for again next time, so a `dagster instance migrate` is seen at once."""
        if present:
            self._present.add(what)
        return present

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A batch of planned events in one transaction, leaving the rows their one-by-one storing leaves:
        an event row each; each asset's row updated as by its last event (the batch's events of one asset
        differ only in their partition); a check execution row per check and partition. Other batches (the
        materializations of a step) as dagster-postgres stores them. On an error nothing is kept, and Dagster
        stores the batch again one event at a time."""
        if not events or any(event.dagster_event_type not in _PLANNED for event in events):
            super().store_event_batch(events)
            return
        with self.index_transaction() as conn:
            ids = [int(row[0]) for row in conn.execute(
                self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))]
            stored = list(zip(events, ids, strict=True))
            assets = [(event, event_id) for event, event_id in stored
                      if event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED]
            self._store_asset_event_tags(conn, [event for event, _ in assets], [event_id for _, event_id in assets])
            for event, event_id in {event.get_dagster_event().asset_key: (event, event_id)
                                    for event, event_id in assets}.values():
                self._store_asset_event(conn, event, event_id)
            checks = [row for event, event_id in stored
                      if event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
                      for row in self._planned_check_rows(event, event_id)]
            if checks:
                conn.execute(AssetCheckExecutionsTable.insert().values(checks))

    def _planned_check_rows(self, event: EventLogEntry, event_id: int) -> list[dict[str, Any]]:
        """The rows dagster's own `_store_asset_check_evaluation_planned` inserts, the event serialized once."""
        planned = event.get_dagster_event().asset_check_planned_data
        serialized, timestamp = serialize_value(event), self._event_insert_timestamp(event)
        partitions = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        return [{"asset_key": planned.asset_key.to_string(), "check_name": planned.check_name, "partition": partition,
                 "run_id": event.run_id, "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
                 "evaluation_event": serialized, "evaluation_event_timestamp": timestamp,
                 "evaluation_event_storage_id": event_id} for partition in partitions]


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):
    """dagster-postgres' run storage with a pooled connection (see the module docstring)."""


STORAGES = (("run_storage", __name__, "PooledPostgresRunStorage"),
            ("event_log_storage", __name__, "PooledPostgresEventLogStorage"),
            ("schedule_storage", "dagster_postgres.schedule_storage", "PostgresScheduleStorage"))


def storage_yaml(postgres_url: str) -> str:
    """The instance's storage sections (dagster.yaml): runs and events pooled, schedules stock."""
    return "".join(f"{section}:\n  module: {module}\n  class: {name}\n  config:\n    postgres_url: \"{postgres_url}\"\n"
                   for section, module, name in STORAGES)
