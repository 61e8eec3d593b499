"""DuckDB over the raw-feed archive and the warehouse's Parquet export: ad-hoc SQL for data engineers.

Views: `raw_responses` (every supplier answer a sync received: request, status, body), `raw_rates` (the nightly
rates parsed from them), `raw_hotels` (the hotel content parsed), and one per exported warehouse table
(`fact_orders`, `daily_sales`, ...). The archive is read through pyarrow datasets, so a folder and object storage
read alike; nothing is copied into DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from core.archive.store import SCHEMAS, FeedArchive

RAW_VIEWS = {"raw_responses": "responses", "raw_rates": "rates", "raw_hotels": "hotels"}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]


def connect(archive: FeedArchive, warehouse_folder: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the archive's and the warehouse export's views."""
    con = duckdb.connect()
    for view, kind in RAW_VIEWS.items():
        files = archive.files(kind)
        dataset = ds.dataset(files, schema=SCHEMAS[kind], format="parquet", filesystem=archive.fs) if files else \
            SCHEMAS[kind].empty_table()
        con.register(f"_{view}", dataset)
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM _{view}")
    if warehouse_folder is not None and warehouse_folder.is_dir():
        for path in sorted(warehouse_folder.glob("*.parquet")):
            con.execute(f"CREATE VIEW \"{path.stem}\" AS SELECT * FROM read_parquet('{path.as_posix()}')")
    return con


def views(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                          "ORDER BY view_name").fetchall()]


def run_sql(archive: FeedArchive, sql: str, warehouse_folder: Path | None = None) -> QueryResult:
    """`sql` over the views; duckdb.Error (with DuckDB's message) when it does not run."""
    con = connect(archive, warehouse_folder)
    try:
        cursor = con.execute(sql)
        columns = [column[0] for column in cursor.description or []]
        return QueryResult(columns, cursor.fetchall() if columns else [])
    finally:
        con.close()
