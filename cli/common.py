"""What every hotelctl command shares: settings, engines, progress display."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from core import runtime
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
