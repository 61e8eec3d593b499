"""dbt_like_sql: a folder of ClickHouse SQL models with dependencies named in the SQL.

A model file starts with a header of `-- key: value` lines:

    -- materialized: table          (table | view)
    -- partition_by: day            (a Date column; the model is then built one day partition at a time)
    -- stored_by: month             (day | month, default day: one table partition per day or per month)
    -- order_by: partner_id, city
    -- description: what the model holds
    -- report: sales                (the /reports page that shows it)
    -- not_negative: room_nights    (columns an asset check keeps >= 0)
    -- money: gmv, margin           (amount columns summed per day and `currency` into the asset's metadata)

and names its inputs as `{{ ref('model') }}` and `{{ source('facts', 'orders') }}`. Partitioned
models filter their inputs with `{{ partition_filter('day') }}`, which renders to the days being built.
Materialising a day range builds it in a private staging table and swaps whole days in
(`warehouse.loaders.swap_days`), so reruns never duplicate. A model stored by month is still built by
day ranges: each month the range touches is swapped in whole, its days outside the range copied over
unchanged, so a report reads one part per month instead of one per day. A table found in another
partition layout than its model's is rebuilt in the new one with its rows kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import jinja2
from clickhouse_connect.driver.client import Client

from warehouse.client import DATABASE
from warehouse.loaders import FACTS, STORED_BY, partition_key, staging_table, swap_days

MODELS_DIR = Path(__file__).resolve().parents[1] / "dbt_like_sql"
HEADER_KEYS = {"materialized", "partition_by", "stored_by", "order_by", "description", "report", "not_negative",
               "money"}
_HEADER_LINE = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


class ModelError(ValueError):
    """A model folder that cannot load; the message names the file."""


@dataclass
class SqlModel:
    name: str
    path: Path
    template: str
    config: dict[str, str]
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)

    @property
    def table(self) -> str:
        return f"{DATABASE}.{self.name}"

    @property
    def materialized(self) -> str:
        return self.config.get("materialized", "table")

    @property
    def partition_by(self) -> str | None:
        return self.config.get("partition_by") or None

    @property
    def stored_by(self) -> str:
        """How a partitioned model's table is stored: one partition per `day` or per `month`."""
        return self.config.get("stored_by") or "day"

    @property
    def partition_key(self) -> str | None:
        """The table's PARTITION BY expression (None when unpartitioned)."""
        return partition_key(self.partition_by, self.stored_by) if self.partition_by else None

    @property
    def description(self) -> str:
        return self.config.get("description", f"SQL model {self.name}")

    @property
    def not_negative(self) -> list[str]:
        return [column.strip() for column in self.config.get("not_negative", "").split(",") if column.strip()]

    @property
    def money(self) -> list[str]:
        return [column.strip() for column in self.config.get("money", "").split(",") if column.strip()]

    def render(self, start: date | None = None, end: date | None = None, ref_prefix: str = "") -> str:
        """The SQL for the days in [start, end) (all days when not given); refs may name prefixed tables."""

        def partition_filter(column: str = "day") -> str:
            return days_filter(column, start, end)

        return _ENV.from_string(self.template).render(
            ref=lambda name: f"{DATABASE}.{ref_prefix}{name}",
            source=lambda group, name: FACTS[name].qualified,
            partition_filter=partition_filter,
        ).strip().rstrip(";")


def days_filter(column: str, start: date | None, end: date | None) -> str:
    """SQL keeping the rows whose `column` is in [start, end) (all rows when not given)."""
    if start is None or end is None:
        return "1 = 1"
    return f"({column} >= toDate('{start.isoformat()}') AND {column} < toDate('{end.isoformat()}'))"


def _parse(path: Path) -> SqlModel:
    name = path.stem
    if not _MODEL_NAME.match(name):
        raise ModelError(f"{path}: a model file name must be lower_snake_case (it becomes the table name)")
    text = path.read_text()
    config: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADER_LINE.match(line.strip())
        if not match:
            break
        key, value = match.groups()
        if key not in HEADER_KEYS:
            raise ModelError(f"{path}: unknown header key '{key}' (known: {', '.join(sorted(HEADER_KEYS))})")
        config[key] = value
    model = SqlModel(name, path, text, config)
    if model.materialized not in ("table", "view"):
        raise ModelError(f"{path}: materialized must be 'table' or 'view', not '{model.materialized}'")
    if model.materialized == "view" and model.partition_by:
        raise ModelError(f"{path}: a view cannot have partition_by")
    if model.stored_by not in STORED_BY:
        raise ModelError(f"{path}: stored_by must be one of {', '.join(STORED_BY)}, not '{model.stored_by}'")
    if "stored_by" in config and not model.partition_by:
        raise ModelError(f"{path}: stored_by needs partition_by")
    refs: list[str] = []
    sources: list[tuple[str, str]] = []

    def record_ref(ref_name: str) -> str:
        refs.append(ref_name)
        return ref_name

    def record_source(group: str, source_name: str) -> str:
        if group != "facts" or source_name not in FACTS:
            raise ModelError(f"{path}: source('{group}', '{source_name}') is not a warehouse fact "
                             f"(known: {', '.join(f'facts.{n}' for n in FACTS)})")
        sources.append((group, source_name))
        return source_name

    try:
        _ENV.from_string(text).render(ref=record_ref, source=record_source, partition_filter=lambda *_: "1 = 1")
    except jinja2.TemplateError as error:
        raise ModelError(f"{path}: cannot render: {error}") from error
    model.refs = list(dict.fromkeys(refs))
    model.sources = list(dict.fromkeys(sources))
    return model


def load_models(directory: Path = MODELS_DIR) -> dict[str, SqlModel]:
    """Every model in `directory`, upstream first. Raises ModelError naming the file at fault."""
    models = {model.name: model for model in (_parse(path) for path in sorted(directory.glob("*.sql")))}
    for model in models.values():
        for ref in model.refs:
            if ref not in models:
                raise ModelError(f"{model.path}: ref('{ref}') names no model in {directory}")
            if models[ref].partition_by and not model.partition_by:
                raise ModelError(f"{model.path}: an unpartitioned model cannot ref the partitioned model '{ref}'")
    try:
        order = list(TopologicalSorter({name: model.refs for name, model in models.items()}).static_order())
    except CycleError as error:
        cycle = error.args[1]
        files = " -> ".join(str(models[name].path) for name in cycle)
        raise ModelError(f"{models[cycle[0]].path}: models form a cycle: {files}") from error
    return {name: models[name] for name in order}


def cheapest_first(models: list[SqlModel], rows: dict[str, int]) -> list[SqlModel]:
    """`models` in an order that still builds every model after the models it refs, the ones reading the
    fewest rows (`rows` by table: facts and built models) first; ties keep the given order.

    A pipeline step records each model's days while the next models build: with the big models last, the
    small ones' records are written while the big ones run, instead of all waiting behind the first big one.
    """
    def reads(model: SqlModel) -> int:
        return sum(rows.get(FACTS[name].qualified, 0) for _, name in model.sources) + \
            sum(rows.get(f"{DATABASE}.{ref}", 0) for ref in model.refs)

    names = {model.name for model in models}
    position = {model.name: index for index, model in enumerate(models)}
    waiting = {model.name: {ref for ref in model.refs if ref in names} for model in models}
    by_name = {model.name: model for model in models}
    ordered: list[SqlModel] = []
    while waiting:
        ready = [name for name, refs in waiting.items() if not refs]
        name = min(ready, key=lambda name: (reads(by_name[name]), position[name]))
        ordered.append(by_name[name])
        del waiting[name]
        for refs in waiting.values():
            refs.discard(name)
    return ordered


def table_rows(client: Client) -> dict[str, int]:
    """Rows of every warehouse table, from the parts' metadata (no scan)."""
    return {f"{DATABASE}.{row[0]}": int(row[1]) for row in client.query(
        "SELECT table, sum(rows) FROM system.parts WHERE database = %(db)s AND active GROUP BY table",
        parameters={"db": DATABASE}).result_rows}


def _columns(client: Client, sql: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in client.query(f"DESCRIBE ({sql})").result_rows]


# As for the facts (warehouse DDL 0003): a short-lived chDB session removes the parts earlier swaps replaced.
PART_CLEANUP = "cleanup_delay_period = 1, cleanup_delay_period_random_add = 0"


def ensure_table(client: Client, model: SqlModel) -> None:
    """Create the model's table from its SQL's columns; recreate it if the SQL's columns changed; rebuild it
    with its rows if only its partition layout changed (e.g. from one partition per day to one per month)."""
    sql = model.render()
    if model.materialized == "view":
        client.command(f"CREATE OR REPLACE VIEW {model.table} AS {sql}")
        return
    wanted = _columns(client, sql)
    found = client.query("SELECT engine, engine_full, partition_key FROM system.tables WHERE database = %(db)s "
                         "AND name = %(name)s", parameters={"db": DATABASE, "name": model.name}).result_rows
    if found and found[0][0] == "MergeTree":
        current = [(row[0], row[1]) for row in client.query(f"DESCRIBE TABLE {model.table}").result_rows]
        if current == wanted:
            if _same_expression(found[0][2], model.partition_key or ""):
                if PART_CLEANUP not in found[0][1]:  # made before the setting
                    client.command(f"ALTER TABLE {model.table} MODIFY SETTING {PART_CLEANUP}")
            else:
                _relayout(client, model, sql)
            return
    if found:  # other columns, or the model was a view until now
        client.command(f"DROP TABLE {model.table}")
    client.command(create_table_sql(model, model.table, sql))


def _same_expression(found: str, wanted: str) -> bool:
    return found.replace(" ", "") == wanted.replace(" ", "")


def _relayout(client: Client, model: SqlModel, sql: str) -> None:
    """Rebuild the model's table in the model's layout, keeping its rows: filled aside, then exchanged in."""
    def create(name: str) -> str:
        return create_table_sql(model, name, sql)

    with staging_table(client, model.table, date.today(), create) as fresh:
        client.command(f"INSERT INTO {fresh} SELECT * FROM {model.table}")
        client.command(f"EXCHANGE TABLES {model.table} AND {fresh}")


def create_table_sql(model: SqlModel, table: str, sql: str) -> str:
    """An empty table `table` in the model's layout (its partition_by and order_by) for the rows of `sql`."""
    partition = f"PARTITION BY {model.partition_key}" if model.partition_key else ""
    order_by = model.config.get("order_by") or "tuple()"
    return (f"CREATE TABLE IF NOT EXISTS {table} ENGINE = MergeTree {partition} "
            f"ORDER BY ({order_by}) SETTINGS {PART_CLEANUP} EMPTY AS {sql}")


@dataclass(frozen=True)
class ModelRun:
    model: str
    rows: int
    sql: str


def materialize(client: Client, model: SqlModel, start: date | None = None, end: date | None = None) -> ModelRun:
    """Build the model for the days in [start, end) (partitioned) or whole (unpartitioned)."""
    ensure_table(client, model)
    if model.materialized == "view":
        return ModelRun(model.name, 0, model.render())
    if model.partition_by and (start is None or end is None):
        raise ValueError(f"{model.name} is partitioned by {model.partition_by}: give the days to build")
    sql = model.render(start, end) if model.partition_by else model.render()
    with staging_table(client, model.table, start or date.today()) as stage:
        if model.partition_by:
            # Only the days built: a month swapped in whole must not take a stray row of another day with it.
            client.command(f"INSERT INTO {stage} SELECT * FROM ({sql}) WHERE "
                           f"{days_filter(model.partition_by, start, end)}")
            rows = swap_days(client, model.table, stage, start, end, model.stored_by, model.partition_by).rows
        else:
            client.command(f"INSERT INTO {stage} {sql}")
            rows = int(client.query(f"SELECT count() FROM {stage}").result_rows[0][0])
            client.command(f"EXCHANGE TABLES {model.table} AND {stage}")
    return ModelRun(model.name, rows, sql)


def materialize_all(client: Client, models: Iterable[SqlModel], start: date, end: date) -> list[ModelRun]:
    """Every model (upstream first) for the days in [start, end)."""
    return [materialize(client, model, start, end) for model in models]

