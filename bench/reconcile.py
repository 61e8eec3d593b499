"""`hotelctl bench reconcile --orders N`: the reconciliation engine against a plain polars join, same run."""

from __future__ import annotations

import time

import typer

from bench import bench_app

# Share of orders turned into each discrepancy class in the generated statement.
SHARES = {"currency_mismatch": 0.01, "status_mismatch": 0.01, "date_mismatch": 0.01, "amount_mismatch": 0.02,
          "missing_in_statement": 0.02, "missing_in_platform": 0.01, "duplicate_in_statement": 0.01}


def generate(n: int, seed: int):
    """N orders and their statement (engine frames), with SHARES of each class; returns the expected counts."""
    import datetime as dt

    import polars as pl

    def draw(salt: int, modulo: int) -> pl.Expr:  # a deterministic pseudo-random integer per row
        return (pl.col("i").hash(seed * 1_000 + salt) % modulo).cast(pl.Int64)

    base = pl.DataFrame({"i": pl.int_range(0, n, dtype=pl.Int64, eager=True)})
    orders = base.select(
        ("O" + pl.col("i").cast(pl.String).str.zfill(9)).alias("order_id"),
        pl.lit("A").alias("supplier_code"),
        ("BK-" + pl.col("i").cast(pl.String).str.zfill(9)).alias("supplier_ref"),
        pl.lit("H1").alias("hotel_id"),
        (pl.lit(dt.date(2026, 11, 16)) + pl.duration(days=draw(1, 7))).alias("check_in"),
        draw(2, 5).alias("_nights"),
        pl.when(draw(3, 10) == 0).then(pl.lit("cancelled")).otherwise(pl.lit("confirmed")).alias("status"),
        (draw(4, 50_000_000) + 5_000).alias("amount"),
        pl.lit(["USD", "EUR", "CNY", "JPY"]).list.get(draw(5, 4)).alias("currency"),
        (pl.col("i") + 2).alias("line"),
        draw(6, 1_000_000).alias("_bucket"),
    ).with_columns(
        (pl.col("check_in") + pl.duration(days=pl.col("_nights") + 1)).alias("check_out"),
        pl.when(pl.col("status") == "cancelled").then(pl.col("amount") // 10).otherwise(pl.col("amount")),
    )
    # Disjoint buckets of the pseudo-random 0..999 999 draw give each class its share.
    edges, cut = {}, 0
    for name in ("currency_mismatch", "status_mismatch", "date_mismatch", "amount_mismatch", "missing_in_statement",
                 "duplicate_in_statement"):
        size = int(round(SHARES[name] * 1_000_000))
        edges[name] = (cut, cut + size)
        cut += size
    role = pl.lit("")
    for name, (low, high) in edges.items():
        role = pl.when((pl.col("_bucket") >= low) & (pl.col("_bucket") < high)).then(pl.lit(name)).otherwise(role)
    orders = orders.with_columns(role.alias("role"))
    expected_status = pl.col("status").replace_strict({"confirmed": "charged", "cancelled": "cancelled"})
    statement = orders.filter(pl.col("role") != "missing_in_statement").select(
        # Stray spaces and other case on a share of the references: they must still pair.
        pl.when(pl.col("line") % 7 == 0).then(pl.lit(" ") + pl.col("supplier_ref").str.to_lowercase() + pl.lit(" "))
        .otherwise(pl.col("supplier_ref")).alias("supplier_ref"),
        "check_in",
        pl.when(pl.col("role") == "date_mismatch").then(pl.col("check_out") + pl.duration(days=1))
        .otherwise(pl.col("check_out")).alias("check_out"),
        pl.when(pl.col("role") == "status_mismatch").then(pl.lit("no_show")).otherwise(expected_status).alias("status"),
        pl.when(pl.col("role") == "amount_mismatch").then(pl.col("amount") + 1_000)
        .when(pl.col("line") % 11 == 0).then(pl.col("amount") + 100)  # exactly the tolerance: agrees
        .otherwise(pl.col("amount")).alias("amount"),
        pl.when(pl.col("role") == "currency_mismatch")
        .then(pl.when(pl.col("currency") == "USD").then(pl.lit("EUR")).otherwise(pl.lit("USD")))
        .otherwise(pl.col("currency")).alias("currency"),
        "role",
    )
    duplicates = statement.filter(pl.col("role") == "duplicate_in_statement")
    strays = int(n * SHARES["missing_in_platform"])
    extra = pl.DataFrame({"i": pl.int_range(0, strays, dtype=pl.Int64, eager=True)}).select(
        ("XS-" + pl.col("i").cast(pl.String).str.zfill(9)).alias("supplier_ref"),
        pl.lit(dt.date(2026, 11, 16)).alias("check_in"), pl.lit(dt.date(2026, 11, 18)).alias("check_out"),
        pl.lit("charged").alias("status"), (draw(7, 5_000_000) + 5_000).alias("amount"),
        pl.lit("USD").alias("currency"), pl.lit("missing_in_platform").alias("role"),
    )
    statement = pl.concat([statement, duplicates, extra], how="vertical_relaxed")
    statement = statement.sample(fraction=1.0, shuffle=True, seed=seed)
    counted = statement.group_by("role").len()
    expected = {name: 0 for name in SHARES}
    expected.update({r: c for r, c in counted.iter_rows() if r in expected and r != "missing_in_statement"})
    expected["missing_in_statement"] = orders.filter(pl.col("role") == "missing_in_statement").height
    expected["duplicate_in_statement"] = duplicates.height
    statement = statement.drop("role").with_columns(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("line"))
    return orders.drop("role", "_bucket", "_nights"), statement, expected


def _normalise(frame):
    import polars as pl

    return frame.with_columns(pl.col("supplier_ref").str.strip_chars(),
                              pl.col("supplier_ref").str.strip_chars().str.to_lowercase().alias("key"))


@bench_app.command("reconcile", help=(
    "Time the reconciliation of N generated orders (normalise refs, pair, classify, format the discrepancy rows) "
    "against a plain polars full join of the same two tables in the same run; print the ratio and check each "
    "class's count against the generated share."))
def bench_reconcile(
    orders: int = typer.Option(1_000_000, "--orders", min=1, help="Orders to reconcile."),
    seed: int = typer.Option(7, help="Generator seed."),
    repeat: int = typer.Option(3, min=1, help="Runs of each side; the best is reported."),
) -> None:
    """The engine against a plain join (see the command's help)."""
    from core.settlement.engine import CLASSES, reconcile
    from core.settlement.report import discrepancy_table

    started = time.perf_counter()
    order_frame, statement_frame, expected = generate(orders, seed)
    typer.echo(f"generated {order_frame.height:,} orders and {statement_frame.height:,} statement lines in "
               f"{time.perf_counter() - started:.2f}s (seed {seed}; shares {SHARES})")
    raw_orders, raw_statement = order_frame.drop("key", strict=False), statement_frame.drop("key", strict=False)

    def engine_run():
        result = reconcile(_normalise(raw_orders), _normalise(raw_statement), 100)
        return result, discrepancy_table(result)

    def baseline_run():
        return raw_orders.join(raw_statement, on="supplier_ref", how="full", coalesce=True)

    engine_times, baseline_times = [], []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        baseline_run()
        baseline_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result, table = engine_run()
        engine_times.append(time.perf_counter() - t0)
    best, base = min(engine_times), min(baseline_times)
    got = {name: result.counts.get(name, 0) for name in CLASSES}
    typer.echo(f"reconcile: {best:.3f}s best of {repeat} (runs: {', '.join(f'{t:.3f}' for t in engine_times)}),"
               f" {orders / best:,.0f} orders/s; {table.height:,} discrepancy rows")
    typer.echo(f"plain polars full join of the same tables: {base:.3f}s best of {repeat}")
    typer.echo(f"ratio reconcile / plain join: {best / base:.2f}x")
    typer.echo(f"pairs {result.pairs:,}; agree {result.counts.get('matched', 0):,};"
               f" not billed (cancelled, zero) {result.counts.get('not_billed', 0):,}")
    for name in CLASSES:
        mark = "ok" if got[name] == expected[name] else f"EXPECTED {expected[name]:,}"
        typer.echo(f"  {name:<24} {got[name]:>10,}  {mark}")
    if orders >= 1_000_000:
        typer.echo(f"target 1 000 000 orders under 10 s: {'met' if best < 10 else 'NOT met'}"
                   f" ({best * 1_000_000 / orders:.2f}s per million)")
    if got != expected:
        raise typer.Exit(1)
