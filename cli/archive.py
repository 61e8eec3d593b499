"""`hotelctl sql "…"`: DuckDB over the raw-feed archive and the warehouse's Parquet export.

Views: raw_responses, raw_rates, raw_hotels (core/archive/query.py) and one per warehouse table (fact_orders,
daily_sales, ...). The warehouse is exported first when no export exists yet, or with --refresh-warehouse
(embedded, that opens chDB for the export only, under its lock).
"""

from __future__ import annotations

import csv
import sys

import typer
from rich.console import Console
from rich.table import Table

from cli.common import console, endpoints_or_exit, settings_or_exit, step


def sql(
    query: str = typer.Argument(..., help="DuckDB SQL over raw_responses, raw_rates, raw_hotels and the warehouse "
                                          "tables (fact_orders, daily_sales, ...)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout (header first) instead of a table."),
    refresh_warehouse: bool = typer.Option(False, "--refresh-warehouse",
                                           help="Export the warehouse to Parquet again before the query."),
    max_rows: int = typer.Option(200, "--max-rows", min=1, help="Rows the table shows (CSV has them all)."),
) -> None:
    """Ad-hoc SQL (DuckDB) over the raw-feed archive and the warehouse."""
    import duckdb

    from core.archive.query import run_sql, views
    from core.archive.store import FeedArchive

    settings = settings_or_exit()
    archive = FeedArchive(settings.archive_location)
    folder = archive.local_root / "warehouse" if archive.local_root else None
    if folder is not None and (refresh_warehouse or not any(folder.glob("*.parquet"))):
        from warehouse.client import warehouse_client
        from warehouse.export import export_parquet
        from warehouse.schema import apply_schema

        endpoints = endpoints_or_exit(settings)
        with step("Exporting the warehouse to Parquet"), warehouse_client(endpoints.clickhouse_url) as client:
            apply_schema(client)
            export_parquet(client, folder)
    try:
        result = run_sql(archive, query, folder)
    except duckdb.Error as error:
        from core.archive.query import connect

        con = connect(archive, folder)
        typer.echo(f"{type(error).__name__}: {error}\nviews: {', '.join(views(con))}", err=True)
        con.close()
        raise typer.Exit(2) from None
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
        return
    table = Table(show_lines=False)
    for column in result.columns:
        table.add_column(column)
    for row in result.rows[:max_rows]:
        table.add_row(*("" if value is None else str(value) for value in row))
    Console().print(table)  # the answer on stdout; progress and counts stay on stderr
    shown = min(len(result.rows), max_rows)
    console.print(f"[dim]{len(result.rows)} row(s){'' if shown == len(result.rows) else f', {shown} shown'}[/dim]")


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
