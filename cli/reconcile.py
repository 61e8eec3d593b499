"""`hotelctl reconcile`: reconcile an orders CSV against a supplier statement CSV (the fixed contract).

`hotelctl settle run --cycle DATE [--to DATE] [--supplier CODE]`: reconcile (rerun, backfill) settlement
cycles in the database through Dagster, one run per cycle, recorded in the UI's run history.
"""

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
    """Pair orders with statement lines; see RECONCILE_HELP (the command's --help) for the rules."""
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


settle_app = typer.Typer(help="Settlement cycles in the database: rerun or backfill them through Dagster.",
                         no_args_is_help=True)


@settle_app.command("run")
def settle_run(
    cycle: str = typer.Option(..., "--cycle", help="A day in the (first) cycle, YYYY-MM-DD; cycles start Monday."),
    to: str = typer.Option(None, "--to", help="A day in the last cycle (default: the same cycle)."),
    supplier: list[str] = typer.Option([], "--supplier", help="Only these supplier codes (repeatable)."),
    actor: str = typer.Option(None, "--as", help="Who acts (kept in the audit log); default: the OS user."),
) -> None:
    """Reconcile each cycle (one Dagster run per cycle): a rerun replaces the cycle's results, or adds a
    revision when finance had approved it. Prints each supplier's outcome; exit 1 if a run failed. Each run is
    audited (settlement.rerun)."""
    import datetime as dt
    import os

    import dagster as dg

    from cli.common import (
        QUIET_CONSOLE,
        console,
        endpoints_or_exit,
        operator_actor,
        quiet_dagster_warnings,
        settings_or_exit,
    )
    from cli.main import _prepare_dagster_instance
    from core import audit
    from core.db import engine_for
    from core.settlement.cycles import cycle_containing, last_closed_cycle

    def day(value: str, option: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            typer.echo(f"{option}: {value!r} is not a date (YYYY-MM-DD)", err=True)
            raise typer.Exit(2) from None

    settings = settings_or_exit()
    first = cycle_containing(day(cycle, "--cycle"), settings.settle_cycle_days)
    last = cycle_containing(day(to, "--to") if to else first.start, settings.settle_cycle_days)
    if last.start < first.start:
        typer.echo("--to: before --cycle", err=True)
        raise typer.Exit(2)
    closed = last_closed_cycle(dt.datetime.now(dt.UTC), settings.platform_timezone, settings.settle_cycle_days)
    if last.start > closed.start:
        option = "--to" if to else "--cycle"
        typer.echo(f"{option}: the cycle from {last.start} has not closed yet; the last closed cycle is "
                   f"{closed.start}..{closed.end - dt.timedelta(days=1)}", err=True)
        raise typer.Exit(2)
    endpoints = endpoints_or_exit(settings)
    _prepare_dagster_instance(settings, endpoints)
    os.environ.update(endpoints.child_env(settings))
    quiet_dagster_warnings()
    from assets.settlement import settlement_reconciliation
    from pipelines.orphan_runs import EXECUTED_BY_A_COMMAND
    from pipelines.resources import resources_for

    instance = dg.DagsterInstance.get()
    who, engine = operator_actor(actor), engine_for(endpoints.database_url)
    failed = []
    start = first.start
    while start <= last.start:
        key = start.isoformat()
        result = dg.materialize(
            [settlement_reconciliation], partition_key=key, instance=instance, resources=resources_for(settings),
            run_config={**QUIET_CONSOLE,
                        "ops": {"settlement_reconciliation": {"config": {"suppliers": list(supplier)}}}},
            raise_on_error=False, tags={"settlement/trigger": "hotelctl", **EXECUTED_BY_A_COMMAND})
        events = result.asset_materializations_for_node("settlement_reconciliation") if result.success else []
        metadata = {k: v.value for k, v in events[0].metadata.items()} if events else {}
        # The Dagster run writes in its own transactions; the entry follows it with what it did.
        with engine.begin() as conn:
            audit.record(conn, who, "settlement.rerun", f"settlement_period:{key}", None,
                         {"run_id": result.run_id, "success": result.success, "suppliers": list(supplier) or "all",
                          "discrepancies": metadata.get("discrepancies")})
        if not result.success:
            failed.append(key)
            typer.echo(f"cycle {key}: FAILED (run {result.run_id}; see the Dagster UI)")
        else:
            typer.echo(f"cycle {key}: {metadata.get('discrepancies', 0)} discrepancies, run {result.run_id}")
            for code, note in (metadata.get("suppliers") or {}).items():
                typer.echo(f"  {code}: {note}")
            for code, reason in (metadata.get("failed_suppliers") or {}).items():
                typer.echo(f"  {code}: no statement: {reason}")
            if not metadata.get("suppliers") and not metadata.get("failed_suppliers"):
                typer.echo("  no enabled supplier matched")
        start += dt.timedelta(days=settings.settle_cycle_days)
    console.print("[green]done[/green]" if not failed else f"[red]failed cycles: {', '.join(failed)}[/red]")
    if failed:
        raise typer.Exit(1)


RECONCILE_HELP = (
    "Pair orders with statement lines, write one row per discrepancy to --out, print a summary.\n\n"
    "Refs pair trimmed and case-insensitively; the first statement line of a ref pairs, every later one is "
    "duplicate_in_statement. Rows are ordered by class (currency, status, date, amount mismatch, missing in "
    "statement, missing in platform, duplicate), then ref, then statement line. Amounts are exact, padded to the "
    "currency's minor unit (100.1 USD prints 100.10; never rounded). difference = statement - platform, a missing "
    "side counting as 0 (empty for currency_mismatch); a missing side's amount cell is empty; currency is the "
    "order's (for currency_mismatch each amount is in its own side's currency). A ref repeated in ORDERS is an "
    "error.\n\n"
    "Exit status 0 when the files were reconciled (discrepancies or not), 1 for bad input (the message names "
    "file, line and column; nothing is written), 2 for bad options."
)


def register(app: typer.Typer) -> None:
    app.command("reconcile", help=RECONCILE_HELP)(reconcile_command)
    app.add_typer(settle_app, name="settle")
