"""`hotelctl reconcile`: reconcile an orders CSV against a supplier statement CSV (the fixed contract)."""

from __future__ import annotations

from pathlib import Path

import typer


def reconcile_command(
    orders: Path = typer.Option(..., "--orders", help="ORDERS.csv: order_id,supplier_code,supplier_ref,hotel_id,"
                                "check_in,check_out,status,net_amount,currency"),
    statement: Path = typer.Option(..., "--statement", help="STATEMENT.csv: supplier_ref,check_in,check_out,status,"
                                   "amount,currency"),
    out: Path = typer.Option(..., "--out", help="DISCREPANCIES.csv (replaced atomically; untouched on error)."),
    tolerance: str = typer.Option("0.01", "--tolerance", help="Largest |statement - order| that still agrees."),
) -> None:
    """Pair orders with statement lines, write one row per discrepancy to --out, print a summary.

    Exit status 0 when the files were reconciled (discrepancies or not), 1 for bad input (the message
    names file, line and column; nothing is written), 2 for bad options.
    """
    from core.settlement.amounts import to_units
    from core.settlement.csvio import InputError, read_orders, read_statement
    from core.settlement.engine import reconcile
    from core.settlement.report import summary_lines, write_discrepancies

    try:
        tolerance_units = to_units(tolerance.strip())
    except ValueError as error:
        typer.echo(f"--tolerance: {error}", err=True)
        raise typer.Exit(2) from None
    if tolerance_units < 0:
        typer.echo("--tolerance: must not be negative", err=True)
        raise typer.Exit(2)
    try:
        order_frame = read_orders(orders)
        statement_frame = read_statement(statement)
    except InputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    result = reconcile(order_frame, statement_frame, tolerance_units)
    try:
        written = write_discrepancies(result, out)
    except OSError as error:
        typer.echo(f"error: {out}: cannot write: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None
    for line in summary_lines(result):
        typer.echo(line)
    typer.echo(f"wrote {written} discrepancies to {out}")


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile_command)
