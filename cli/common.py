"""What every hotelctl command shares: settings, engines, progress display."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from core import audit, runtime
from core.settings import Settings, SettingsError, load_settings

console = Console(stderr=True)
# The run config of a Dagster run hotelctl starts in the platform's instance: each event is logged once, as the JSON
# lines the instance's handler writes on stdout (as the daemon's runs are); Dagster's console logger would print the
# same events again as text among hotelctl's own lines on stderr. `quiet_dagster_warnings` goes with it.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


def endpoints_or_exit(settings: Settings, start: bool = True) -> runtime.Endpoints:
    try:
        with step("Starting engines" if start else "Resolving engines"):
            return runtime.resolve(settings, start=start)
    except runtime.EngineError as error:  # an embedded engine that cannot start (yet): what to do, one line
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


def unreachable_engine(error: BaseException) -> str | None:
    """One line for an error that says an engine given by URL cannot be reached, else None."""
    import psycopg
    import redis
    import sqlalchemy.exc

    cause = error.orig if isinstance(error, sqlalchemy.exc.OperationalError) else error
    if isinstance(cause, psycopg.OperationalError) and "connection" in str(cause).lower():
        engine = "PostgreSQL (DATABASE_URL)"
    elif isinstance(error, redis.exceptions.ConnectionError):
        engine = "Redis (REDIS_URL)"
    else:
        return None
    reason = " ".join(str(cause).split())
    return f"cannot reach {engine}: {reason}; `hotelctl status` checks each engine"


@contextmanager
def step(message: str) -> Iterator[None]:
    """A spinner for anything that may take more than a second (progress goes to stderr)."""
    with console.status(message, spinner="dots"):
        yield
    console.print(f"[dim]✓ {message}[/dim]")


def quiet_dagster_warnings() -> None:
    """Before hotelctl starts Dagster runs in the platform's instance: every run would warn, among hotelctl's own
    lines, that the instance's yaml logging config is a beta feature."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)


def operator_actor(name: str | None) -> audit.Actor:
    """Who the audit log names for a CLI action: `--as NAME`, else the OS user."""
    return audit.Actor(name or getpass.getuser(), "operator", "cli")


AS_OPTION = typer.Option(None, "--as", help="Who acts (kept in the audit log); default: the OS user.")
REVIEWER_OPTION = typer.Option(None, "--as", "--reviewer",
                               help="Who decides (kept in the audit log); default: the OS user.")


def engine_or_exit():
    from core.db import engine_for

    settings = settings_or_exit()
    return engine_for(endpoints_or_exit(settings).database_url)


def admin_call(function, *args, **kwargs):
    """Run an operator action; its refusal becomes one line naming the option and the reason, exit code 1."""
    from core.admin_errors import AdminError

    try:
        return function(*args, **kwargs)
    except AdminError as error:
        where = f"--{error.field.replace('_', '-')}: " if error.field else ""
        typer.echo(f"error: {where}{error.message}", err=True)
        raise typer.Exit(1) from None


def echo_json(value) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def parse_day(value: str | None, option: str) -> dt.date | None:
    """A day option (YYYY-MM-DD); a bad one is one line naming the option, exit code 1."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        typer.echo(f"error: {option}: {value!r} is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(1) from None
