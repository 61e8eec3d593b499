"""`hotelctl bench matching`: the matcher against the plain baseline on labelled world data."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from bench import bench_app

# Seeds 101 and 102 were used to tune the matcher; the default measures on a seed it never saw.
DEFAULT_SEED = 424242


@bench_app.command("matching")
def bench_matching(
    hotels: int = typer.Option(20_000, min=10, help="Master hotels in the generated world."),
    seed: int = typer.Option(DEFAULT_SEED, help="World seed (101 and 102 were used for tuning: avoid them)."),
    coverage: float = typer.Option(0.7, min=0.0, max=1.0, help="Share of master hotels each supplier sells."),
    ai_boost: bool = typer.Option(False, "--ai-boost/--no-ai-boost", help="Run with matching.ai.boost on."),
    with_baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also run the plain baseline."),
    suppliers: str = typer.Option("A,B,C", help="Supplier codes in the world, comma-separated."),
    workers: int = typer.Option(0, min=0, help="Matcher processes (0: one per core, up to 4)."),
    write_csv: Path | None = typer.Option(None, "--write-csv", help="Also write catalog.csv, supplier.csv and "
                                                                    "truth.csv here (to time `hotelctl match`)."),
    hard: bool = typer.Option(False, "--hard", help="Harsher than the world: half the supplier phones dropped, "
                                                    "~150 m more coordinate noise, 1 % lat/lon swapped."),
) -> None:
    """Precision/recall of auto decisions, review rate, new hotels kept apart, hotels/s; matcher vs baseline."""
    from core.matching.config import MatcherConfig
    from core.matching.evaluate import baseline_match, evaluate
    from core.matching.matcher import Matcher, default_workers
    from core.matching.world_data import harder, labelled_set, write_contract_csvs

    started = time.perf_counter()
    codes = tuple(code.strip() for code in suppliers.split(",") if code.strip())
    data = labelled_set(seed, hotels, suppliers=codes, coverage=coverage)
    if hard:
        data = harder(data, seed)
    if write_csv is not None:
        write_contract_csvs(data, write_csv)
        typer.echo(f"wrote {write_csv}/catalog.csv, supplier.csv, truth.csv")
    typer.echo(f"world seed={seed}: {len(data.catalog)} master hotels, {len(data.suppliers)} supplier hotels "
               f"({sum(v is None for v in data.truth.values())} supplier-only), generated in "
               f"{time.perf_counter() - started:.1f}s")
    rows = []
    started = time.perf_counter()
    workers = workers or default_workers()
    matcher = Matcher(data.catalog, MatcherConfig(ai_boost=ai_boost))
    prepared = time.perf_counter() - started
    decisions = matcher.match(data.suppliers, workers, keep_candidates=False)
    elapsed = time.perf_counter() - started
    typer.echo(f"matcher: catalog prepared in {prepared:.1f}s, {len(data.suppliers)} supplier hotels matched in "
               f"{elapsed - prepared:.1f}s, {elapsed:.1f}s in all ({workers} processes)")
    rows.append(("weighted_score" + (" +ai.boost" if ai_boost else ""), evaluate(decisions, data.truth), elapsed))
    if with_baseline:
        started = time.perf_counter()
        baseline = baseline_match(data.catalog, data.suppliers)
        rows.append(("baseline (nearest ≤500 m, ratio ≥80)", evaluate(baseline, data.truth),
                     time.perf_counter() - started))
    header = f"{'matcher':<40}{'precision':>10}{'recall':>9}{'review':>9}{'new kept':>10}{'wrong':>7}" \
             f"{'seconds':>9}{'hotels/s':>10}"
    typer.echo(header)
    for name, m, seconds in rows:
        typer.echo(f"{name:<40}{m.precision:>10.4f}{m.recall:>9.4f}{m.review_rate:>9.2%}{m.new_kept_apart:>10.2%}"
                   f"{m.wrong_auto:>7}{seconds:>9.1f}{m.hotels / max(seconds, 1e-9):>10.0f}")
    if with_baseline:
        ours, base = rows[0][1], rows[1][1]
        typer.echo(f"gain over baseline: recall {ours.recall - base.recall:+.4f}, precision "
                   f"{ours.precision - base.precision:+.4f}, wrong auto matches {ours.wrong_auto} vs {base.wrong_auto}")
    typer.echo(f"decisions: auto={rows[0][1].auto} review={rows[0][1].review} new={rows[0][1].new}; "
               f"supplier-only hotels decided new: {rows[0][1].new_decided_new:.2%}")
