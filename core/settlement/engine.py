"""Pair orders with statement lines and give each pair one class (polars, exact integer units).

Rules (the `hotelctl reconcile` contract):
- pair on supplier_ref trimmed and case-insensitive (`key`); the first statement line with a key
  pairs, every later line with the same key is `duplicate_in_statement`;
- for a pair, the first that applies: currency_mismatch, status_mismatch (confirmed↔charged,
  cancelled↔cancelled, no_show↔no_show), date_mismatch, amount_mismatch (|statement − order| >
  tolerance; exactly the tolerance is fine); otherwise `matched`;
- an unpaired order is `missing_in_statement`, except a cancelled order with a zero amount
  (`not_billed`, not a discrepancy); an unpaired statement line is `missing_in_platform`.

`lines` holds every outcome (matched and not_billed included, unordered); `discrepancies` the
classes above, sorted by class (in the order above), then reference, then statement line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

CLASSES = ("currency_mismatch", "status_mismatch", "date_mismatch", "amount_mismatch", "missing_in_statement",
           "missing_in_platform", "duplicate_in_statement")
OK_CLASSES = ("matched", "not_billed")
EXPECTED_STATEMENT_STATUS = {"confirmed": "charged", "cancelled": "cancelled", "no_show": "no_show"}

LINE_COLUMNS = ("supplier_ref", "key", "order_id", "class", "platform_amount", "statement_amount", "difference",
                "currency", "platform_currency", "statement_currency", "statement_line", "order_line")


@dataclass
class Reconciliation:
    lines: pl.DataFrame
    pairs: int
    counts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, dict[str, int]] = field(default_factory=dict)

    _discrepancies: pl.DataFrame | None = None

    @property
    def discrepancies(self) -> pl.DataFrame:
        """Discrepancy lines sorted by class (in CLASSES order), reference, statement line, order line."""
        if self._discrepancies is None:
            self._discrepancies = (
                self.lines.filter(pl.col("class").is_in(CLASSES))
                .with_columns(_class_order().alias("_rank"))
                .sort(["_rank", "key", "statement_line", "order_line"], nulls_last=True)
                .drop("_rank"))
        return self._discrepancies

    @property
    def discrepancy_count(self) -> int:
        return sum(self.counts.get(name, 0) for name in CLASSES)


def _class_order() -> pl.Expr:
    return pl.col("class").replace_strict({name: i for i, name in enumerate((*CLASSES, *OK_CLASSES))},
                                          return_dtype=pl.Int8)


def reconcile(orders: pl.DataFrame, statement: pl.DataFrame, tolerance_units: int) -> Reconciliation:
    """`orders` and `statement` as `csvio` returns them (amount columns in units)."""
    if tolerance_units < 0:
        raise ValueError("tolerance must not be negative")
    o = orders.lazy().select(
        pl.col("supplier_ref").alias("o_ref"),
        pl.when(pl.col("key") == "").then(pl.lit("\x00") + pl.col("order_id")).otherwise(pl.col("key")).alias("key"),
        "order_id",
        pl.col("check_in").alias("o_in"), pl.col("check_out").alias("o_out"),
        pl.col("status").alias("o_status"), pl.col("amount").alias("o_amount"),
        pl.col("currency").alias("o_currency"), pl.col("line").alias("order_line"),
    )
    s = statement.lazy().select(
        pl.col("supplier_ref").alias("s_ref"), "key",
        pl.col("check_in").alias("s_in"), pl.col("check_out").alias("s_out"),
        pl.col("status").alias("s_status"), pl.col("amount").alias("s_amount"),
        pl.col("currency").alias("s_currency"), pl.col("line").alias("statement_line"),
    ).with_columns(pl.col("key").is_first_distinct().alias("_first"))  # in file order: the first one pairs
    first = s.filter(pl.col("_first")).drop("_first")
    repeats = s.filter(~pl.col("_first")).drop("_first")

    paired = o.join(first, on="key", how="full", coalesce=True)
    expected = pl.col("o_status").replace_strict(EXPECTED_STATEMENT_STATUS, default=None)
    diff = pl.col("s_amount") - pl.col("o_amount")
    has_o, has_s = pl.col("order_id").is_not_null(), pl.col("statement_line").is_not_null()
    cls = (
        pl.when(has_o & ~has_s & (pl.col("o_status") == "cancelled") & (pl.col("o_amount") == 0))
        .then(pl.lit("not_billed"))
        .when(has_o & ~has_s).then(pl.lit("missing_in_statement"))
        .when(~has_o).then(pl.lit("missing_in_platform"))
        .when(pl.col("o_currency") != pl.col("s_currency")).then(pl.lit("currency_mismatch"))
        .when(expected != pl.col("s_status")).then(pl.lit("status_mismatch"))
        .when((pl.col("o_in") != pl.col("s_in")) | (pl.col("o_out") != pl.col("s_out"))).then(pl.lit("date_mismatch"))
        .when(diff.abs() > tolerance_units).then(pl.lit("amount_mismatch"))
        .otherwise(pl.lit("matched"))
    )
    paired = paired.with_columns(cls.alias("class"))
    paired_lines = paired.select(
        pl.coalesce("o_ref", "s_ref").alias("supplier_ref"), "key", "order_id", "class",
        pl.col("o_amount").alias("platform_amount"), pl.col("s_amount").alias("statement_amount"),
        # A missing side counts as zero, so the differences of all lines sum to statement − platform.
        pl.when(pl.col("class") == "currency_mismatch").then(None)
        .otherwise(pl.col("s_amount").fill_null(0) - pl.col("o_amount").fill_null(0)).alias("difference"),
        pl.coalesce("o_currency", "s_currency").alias("currency"),
        pl.col("o_currency").alias("platform_currency"), pl.col("s_currency").alias("statement_currency"),
        "statement_line", "order_line",
    )
    duplicate_lines = repeats.join(o.select("key", "order_id", "o_currency"), on="key", how="left").select(
        pl.col("s_ref").alias("supplier_ref"), "key", "order_id", pl.lit("duplicate_in_statement").alias("class"),
        pl.lit(None, dtype=pl.Int64).alias("platform_amount"), pl.col("s_amount").alias("statement_amount"),
        pl.col("s_amount").alias("difference"), pl.col("s_currency").alias("currency"),
        pl.lit(None, dtype=pl.String).alias("platform_currency"), pl.col("s_currency").alias("statement_currency"),
        "statement_line", pl.lit(None, dtype=pl.Int64).alias("order_line"),
    )
    lines = pl.concat([paired_lines, duplicate_lines], how="vertical_relaxed").collect()
    counts_frame = lines.group_by("class").len()
    counts = {name: 0 for name in (*CLASSES, *OK_CLASSES)}
    counts.update(dict(zip(counts_frame["class"].to_list(), counts_frame["len"].to_list(), strict=True)))
    pairs = int(lines.select(((pl.col("order_id").is_not_null()) & pl.col("statement_line").is_not_null()
                              & (pl.col("class") != "duplicate_in_statement")).sum()).item())
    return Reconciliation(lines=lines, pairs=pairs, counts=counts, totals=_totals(orders, statement, lines))


def _totals(orders: pl.DataFrame, statement: pl.DataFrame, lines: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per currency, in units: platform and statement totals, and the discrepancies' differences."""
    totals: dict[str, dict[str, int]] = {}
    for frame, label in ((orders, "platform"), (statement, "statement")):
        grouped = frame.group_by("currency").agg(pl.col("amount").sum(), pl.len().alias("n"))
        for currency, amount, count in grouped.iter_rows():
            entry = totals.setdefault(currency, {"platform": 0, "statement": 0, "platform_lines": 0,
                                                 "statement_lines": 0, "discrepancy_difference": 0})
            entry[label] += int(amount or 0)
            entry[f"{label}_lines"] += int(count)
    disputed = (lines.filter(pl.col("class").is_in(CLASSES) & pl.col("difference").is_not_null())
                .group_by("currency").agg(pl.col("difference").sum()))
    for currency, amount in disputed.iter_rows():
        totals[currency]["discrepancy_difference"] += int(amount or 0)
    return dict(sorted(totals.items()))
