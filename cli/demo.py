"""`hotelctl demo seed`: the demo history (weeks of partner activity, statements, cycles, partner invoices and
payments) on a development platform, then the warehouse backfill of its days. `hotelctl up` runs it once unless
`--no-demo`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import typer

from cli.common import console, endpoints_or_exit, settings_or_exit, step
from core import runtime

demo_app = typer.Typer(help="The demo history of a development platform.", no_args_is_help=True)


def seed_demo(settings, endpoints: runtime.Endpoints, days: int, seed_value: int, force: bool = False) -> bool:
    """Seed through the running API, then backfill the warehouse for those days. False if it was seeded before."""
    from core.demo import history

    if not force and history.already_seeded(endpoints.database_url):
        console.print("demo history: already seeded (`hotelctl demo seed --force` adds another)")
        return False
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    with step(f"Seeding {days} days of demo history through the API at {api_url}"):
        summary = history.seed(api_url, endpoints.database_url, settings, days=days, seed_value=seed_value,
                               echo=console.print,
                               reconcile=lambda starts: reconcile_cycles(settings, endpoints, starts))
    console.print(summary.line())
    # Up to yesterday: today's partition is not over yet (the daily schedule builds it tomorrow). The history dates
    # its invoices and payments up to yesterday too, so the receivables report has them all.
    backfill_warehouse(settings, endpoints, summary.first_day, dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    return True


def reconcile_cycles(settings, endpoints: runtime.Endpoints, starts: list[dt.date]) -> None:
    """`hotelctl settle run` over the cycles starting on `starts`, as finance: one Dagster run per cycle, shown in
    the Dagster UI (one command per unbroken run of weeks)."""
    step_days = dt.timedelta(days=settings.settle_cycle_days)
    ranges: list[list[dt.date]] = []
    for start in sorted(starts):
        if ranges and start - ranges[-1][1] == step_days:
            ranges[-1][1] = start
        else:
            ranges.append([start, start])
    for first, last in ranges:
        _hotelctl(settings, endpoints, ["settle", "run", "--cycle", first.isoformat(), "--to", last.isoformat(),
                                        "--as", "demo-finance"], "reconciling the demo cycles in Dagster")


def backfill_warehouse(settings, endpoints: runtime.Endpoints, first: dt.date, last: dt.date) -> None:
    """`hotelctl backfill warehouse_facts warehouse_rollups` over the days, a month per Dagster run."""
    with step(f"Backfilling the warehouse for {first}..{last}"):
        _hotelctl(settings, endpoints, ["backfill", "warehouse_facts", "warehouse_rollups", "--from",
                                        first.isoformat(), "--to", last.isoformat(), "--days-per-run", "31"],
                  "the warehouse backfill")


def _hotelctl(settings, endpoints: runtime.Endpoints, args: list[str], what: str) -> None:
    """`hotelctl ARGS` in a child process with the platform's environment; on failure its output's tail and the
    command to rerun (the demo goes on without it)."""
    result = subprocess.run([sys.executable, "-m", "cli.main", *args], env=endpoints.child_env(settings),
                            capture_output=True, text=True)
    if result.returncode != 0:
        console.print(result.stdout[-3000:] + result.stderr[-3000:])
        console.print(f"[yellow]{what} failed; rerun: hotelctl {' '.join(args)}[/yellow]")


@demo_app.command("seed")
def seed_command(
    days: int = typer.Option(63, min=1, max=90, help="Days of history, ending today."),
    seed_value: int = typer.Option(23, "--seed", help="Random seed: the same seed draws the same history."),
    force: bool = typer.Option(False, help="Seed even if the demo partners already have orders."),
) -> None:
    """Seed the demo history through the running API (`hotelctl up` first), then backfill the warehouse."""
    settings = settings_or_exit()
    if not settings.development:
        typer.echo("demo seed: only in development (embedded engines or HOTEL_ENV=dev)", err=True)
        raise typer.Exit(2)
    seed_demo(settings, endpoints_or_exit(settings), days, seed_value, force)


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
