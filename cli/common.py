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
    except runtime.EngineBusy as busy:  # an embedded engine caught starting or stopping: what to do, one line
        typer.echo(str(busy), err=True)
        raise typer.Exit(1) from None


@contextmanager
def step(message: str) -> Iterator[None]:
    """A spinner for anything that may take more than a second (progress goes to stderr)."""
    with console.status(message, spinner="dots"):
        yield
    console.print(f"[dim]✓ {message}[/dim]")


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
