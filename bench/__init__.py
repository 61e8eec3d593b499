"""`hotelctl bench`: the shared group for benchmark commands, one subcommand per module of this package.

Each module (api, sync, matching, ...) adds its command to `bench_app`; `register(app)` imports them all and
adds the group to `hotelctl` (cli/main.py lists this package once in COMMAND_MODULES).
"""

from __future__ import annotations

import importlib

import typer
from typer.models import OptionInfo

# `--quote-trace-ratio` of the benchmarks that trace (`bench api`, `bench tracing`).
QUOTE_TRACE_RATIO = typer.Option(None, min=0.0, max=1.0, help="The traced side's share of quote searches kept "
                                 "(QUOTE_TRACE_RATIO; default: --trace-ratio). The deployment keeps 0.1.")

# `--seed` of the benchmarks on the seeded world and its quote mix (`bench api`, `bench steps`, `bench tracing`):
# one default, so their figures describe the same world.
MIX_SEED = typer.Option(20260101, help="Seed of the world and of the mix.")


def world_hotels(default: int) -> OptionInfo:
    """`--hotels` of those benchmarks (each its own default: a smaller world where its runs are many)."""
    return typer.Option(default, min=20, help="Master hotels in the simulated world.")


def world_days(default: int) -> OptionInfo:
    """`--days` of those benchmarks."""
    return typer.Option(default, min=1, max=90, help="The seeded inventory window (the sync horizon), in days.")


bench_app = typer.Typer(help="Benchmarks: each prints its figures beside a baseline measured in the same run.",
                        no_args_is_help=True)

SUBMODULES = ("bench.matching", "bench.api", "bench.ops", "bench.warehouse", "bench.sync", "bench.backfill",
              "bench.reconcile", "bench.rooms", "bench.reports", "bench.tracing", "bench.steps")


def register(app: typer.Typer) -> None:
    for module_name in SUBMODULES:
        importlib.import_module(module_name)  # each adds its command to bench_app on import
    app.add_typer(bench_app, name="bench")
