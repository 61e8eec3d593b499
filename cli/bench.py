"""`hotelctl bench`: the shared group for benchmark commands (each area adds one subcommand in its own module)."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Benchmarks: each prints its figures beside a baseline measured in the same run.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
