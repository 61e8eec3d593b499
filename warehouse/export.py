"""The warehouse's tables as Parquet files (one per table), for DuckDB (`hotelctl sql`) and anyone without
ClickHouse. Each table is streamed in Arrow batches into a temporary file that then replaces the last export, so
memory is one batch and a reader never sees half a file. Embedded, the chDB session is opened for the export
and closed after it (one process at a time may open the data path)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from clickhouse_connect.driver.client import Client

from warehouse.client import DATABASE


@dataclass
class WarehouseExport:
    folder: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    bytes: int = 0

    def metadata(self) -> dict:
        return {"folder": self.folder, "tables": len(self.tables), "rows": sum(self.tables.values()),
                "bytes": self.bytes, "rows_by_table": self.tables}


def export_parquet(client: Client, folder: Path) -> WarehouseExport:
    """Every table of the warehouse database (not its staging tables) into `folder/<table>.parquet`."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = [row[0] for row in client.query(
        "SELECT name FROM system.tables WHERE database = %(db)s AND engine LIKE '%%MergeTree' "
        "AND name NOT LIKE '%%stag%%' AND name NOT LIKE '.%%' ORDER BY name", parameters={"db": DATABASE}).result_rows]
    export = WarehouseExport(str(folder))
    for table in tables:
        target = folder / f"{table}.parquet"
        partial = folder / f".{table}.parquet.partial"
        rows = 0
        writer = None
        with client.query_arrow_stream(f"SELECT * FROM {DATABASE}.`{table}`") as stream:
            for block in stream:
                batch = pa.Table.from_batches([block]) if isinstance(block, pa.RecordBatch) else block
                if writer is None:
                    writer = pq.ParquetWriter(partial, batch.schema, compression="zstd")
                writer.write_table(batch)
                rows += batch.num_rows
        if writer is None:  # no rows: an empty file with the table's columns
            empty = client.query_arrow(f"SELECT * FROM {DATABASE}.`{table}` LIMIT 0")
            pq.write_table(empty, partial)
        else:
            writer.close()
        os.replace(partial, target)
        export.tables[table] = rows
        export.bytes += target.stat().st_size
    return export
