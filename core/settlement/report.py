"""The discrepancy CSV (written atomically) and the plain-text summary of a reconciliation."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from core.settlement.amounts import format_expr, format_units
from core.settlement.engine import CLASSES, Reconciliation

OUTPUT_COLUMNS = ("supplier_ref", "order_id", "class", "platform_amount", "statement_amount", "difference", "currency")


def discrepancy_table(result: Reconciliation) -> pl.DataFrame:
    """The contract's columns as text: amounts padded to each side's currency, empty where a side is missing."""
    return result.discrepancies.select(
        "supplier_ref", "order_id", "class",
        format_expr("platform_amount", "platform_currency").alias("platform_amount"),
        format_expr("statement_amount", "statement_currency").alias("statement_amount"),
        format_expr("difference", "currency").alias("difference"),
        "currency",
    )


def write_discrepancies(result: Reconciliation, out: str | Path) -> int:
    """Write the CSV through a temporary file in the same directory, then rename (never half a file)."""
    target = Path(out)
    table = discrepancy_table(result)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            table.write_csv(handle, include_header=True, null_value="", line_terminator="\n")
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return table.height


def summary_lines(result: Reconciliation) -> list[str]:
    clean = result.counts.get("matched", 0)
    lines = [
        f"pairs matched: {result.pairs} ({clean} agree, {result.pairs - clean} with a discrepancy)",
        f"discrepancies: {result.discrepancy_count}",
    ]
    lines += [f"  {name}: {result.counts.get(name, 0)}" for name in CLASSES]
    not_billed = result.counts.get("not_billed", 0)
    if not_billed:
        lines.append(f"cancelled zero-amount orders without a statement line (not a discrepancy): {not_billed}")
    lines.append("totals by currency:")
    if not result.totals:
        lines.append("  (none)")
    for currency, entry in result.totals.items():
        lines.append(
            f"  {currency}: platform {format_units(entry['platform'], currency)} ({entry['platform_lines']} orders),"
            f" statement {format_units(entry['statement'], currency)} ({entry['statement_lines']} lines),"
            f" statement - platform {format_units(entry['statement'] - entry['platform'], currency)},"
            f" in discrepancies {format_units(entry['discrepancy_difference'], currency)}"
        )
    return lines
