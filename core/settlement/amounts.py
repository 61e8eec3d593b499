"""Exact amounts for reconciliation: integer units of 1/10 000 (the schema's NUMERIC(14,4) scale).

Parsing and formatting are vectorised polars string expressions, so a million amounts never pass
through a Python float (or a Python loop). Formatting pads to the currency's minor units and never
rounds: `100.1` USD prints `100.10`, `100.105` USD prints `100.105`, `1500` JPY prints `1500`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import polars as pl

from core.money import MINOR_UNITS

SCALE = 4
UNIT = 10**SCALE
AMOUNT_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)$"


def with_units(frame: pl.DataFrame, column: str, alias: str) -> pl.DataFrame:
    """`frame` plus `alias`: units (Int64) for the trimmed decimal text in `column`, null where it is not an
    amount. Built in steps so each intermediate column is computed once."""
    text = pl.col(column).str.strip_chars()
    staged = frame.with_columns(
        text.str.contains(AMOUNT_PATTERN).alias("_amount_ok"),
        text.str.starts_with("-").alias("_amount_negative"),
        text.str.strip_chars_start("+-").str.split_exact(".", 1).alias("_amount_parts"),
    ).with_columns(
        pl.col("_amount_parts").struct.field("field_0").alias("_amount_whole"),
        pl.col("_amount_parts").struct.field("field_1").fill_null("").alias("_amount_frac"),
    )
    whole, frac = pl.col("_amount_whole"), pl.col("_amount_frac")
    valid = pl.col("_amount_ok") & (frac.str.len_chars() <= SCALE) & (whole.str.len_chars() <= 14)
    units = (pl.when(whole == "").then(pl.lit(0, dtype=pl.Int64)).otherwise(whole.cast(pl.Int64, strict=False))
             * UNIT + (frac + pl.lit("0000")).str.slice(0, SCALE).cast(pl.Int64, strict=False))
    signed = pl.when(pl.col("_amount_negative")).then(-units).otherwise(units)
    return staged.with_columns(pl.when(valid).then(signed).otherwise(None).alias(alias)).drop(
        "_amount_ok", "_amount_negative", "_amount_parts", "_amount_whole", "_amount_frac")


def amount_problem(text: str) -> str:
    """Why one amount text was refused (for the error message)."""
    stripped = text.strip()
    if not stripped:
        return "empty amount"
    if "." in stripped and len(stripped.split(".", 1)[1]) > SCALE:
        return f"more than {SCALE} decimal places in {text!r}"
    return f"unparsable amount {text!r} (expected digits with an optional '.' and up to {SCALE} decimals)"


def minor_digits_expr(currency: str) -> pl.Expr:
    expr = pl.lit(2, dtype=pl.Int32)
    for code, digits in MINOR_UNITS.items():
        if digits != 2:
            expr = pl.when(pl.col(currency) == code).then(pl.lit(digits, dtype=pl.Int32)).otherwise(expr)
    return expr


def format_expr(units: str, currency: str) -> pl.Expr:
    """A units column as text padded to the currency's minor digits (exact, never rounded)."""
    value = pl.col(units)
    magnitude = value.abs()
    whole = (magnitude // UNIT).cast(pl.String)
    frac = (magnitude % UNIT).cast(pl.String).str.zfill(SCALE).str.strip_chars_end("0")
    digits = minor_digits_expr(currency)
    padded = (pl.when(frac.str.len_chars() >= digits).then(frac)
              .otherwise((frac + pl.lit("000")).str.slice(0, digits)))
    sign = pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    body = pl.when(padded.str.len_chars() > 0).then(whole + pl.lit(".") + padded).otherwise(whole)
    return pl.when(value.is_null()).then(None).otherwise(sign + body)


def to_units(value: Decimal | str) -> int:
    """Exact units for one Decimal; raises ValueError past 4 decimal places."""
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    scaled = amount.scaleb(SCALE)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more than {SCALE} decimal places: {value!r}")
    return int(scaled)


def to_decimal(units: int | None) -> Decimal | None:
    return None if units is None else Decimal(units).scaleb(-SCALE)


def format_units(units: int, currency: str) -> str:
    """The same text as `format_expr`, for one value."""
    return pl.DataFrame({"u": [units], "c": [currency]}).select(format_expr("u", "c")).item()


def format_decimal(value: Decimal | None, currency: str | None) -> str | None:
    """A stored Decimal as text with at least the currency's minor digits, never rounded (100.1000 → 100.10)."""
    if value is None:
        return None
    minor = MINOR_UNITS.get(currency or "", 2)
    exponent = value.normalize().as_tuple().exponent
    digits = max(minor, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{value:.{digits}f}"
