"""Read and validate the orders and statement CSV files of the reconciliation contract.

Accepted: a UTF-8 BOM, CRLF line ends, quoted fields, extra columns (ignored), blank lines
(skipped), header names in any case with stray spaces, values with stray spaces, status and
currency in any case. Refused, with file, line and column: a missing column, an empty required
value, an unparsable amount (more than 4 decimals included) or date (YYYY-MM-DD), an unknown
status, a currency that is not three letters, a supplier_ref repeated in the orders file.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from core.settlement.amounts import amount_problem, with_units

ORDER_COLUMNS = ("order_id", "supplier_code", "supplier_ref", "hotel_id", "check_in", "check_out", "status",
                 "net_amount", "currency")
STATEMENT_COLUMNS = ("supplier_ref", "check_in", "check_out", "status", "amount", "currency")
ORDER_STATUSES = ("confirmed", "cancelled", "no_show")
STATEMENT_STATUSES = ("charged", "cancelled", "no_show")
DATE_FORMAT = "%Y-%m-%d"


class InputError(ValueError):
    """Bad input, located: `file: line N, column C: reason`."""

    def __init__(self, file: str, line: int | None, column: str | None, reason: str) -> None:
        parts = (f"line {line}" if line else "", f"column {column}" if column else "")
        where = ", ".join(part for part in parts if part)
        super().__init__(f"{file}: {where}: {reason}" if where else f"{file}: {reason}")
        self.file, self.line, self.column, self.reason = file, line, column, reason


@dataclass(frozen=True)
class _Spec:
    columns: tuple[str, ...]
    amount: str
    statuses: tuple[str, ...]
    required: tuple[str, ...]


ORDERS = _Spec(ORDER_COLUMNS, "net_amount", ORDER_STATUSES,
               ("order_id", "supplier_ref", "check_in", "check_out", "status", "net_amount", "currency"))
STATEMENT = _Spec(STATEMENT_COLUMNS, "amount", STATEMENT_STATUSES, STATEMENT_COLUMNS)


def read_orders(path: str | Path) -> pl.DataFrame:
    """Orders: order_id, supplier_code, supplier_ref, hotel_id, check_in, check_out, status, amount, currency, line."""
    frame = _read(Path(path), ORDERS)
    frame = frame.rename({"net_amount": "amount"})
    _refuse_repeated_refs(str(path), frame)
    return frame


def read_statement(path: str | Path) -> pl.DataFrame:
    """Statement lines in file order: supplier_ref, check_in, check_out, status, amount, currency, line."""
    return _read(Path(path), STATEMENT)


def read_statement_text(text: str, name: str = "statement.csv") -> pl.DataFrame:
    """A statement uploaded as text (finance's upload path): same rules as the file."""
    return _validate(name, _frame_from_text(name, text), STATEMENT, text)


def _read(path: Path, spec: _Spec) -> pl.DataFrame:
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(name, None, None, f"cannot read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise InputError(name, line, None, "not UTF-8 text") from None
    return _validate(name, _frame_from_text(name, text, raw.removeprefix(codecs.BOM_UTF8)), spec, text)


def _frame_from_text(name: str, text: str, raw: bytes | None = None) -> pl.DataFrame:
    if not text.strip():
        raise InputError(name, 1, None, "empty file: expected a header line")
    try:
        return pl.read_csv(raw if raw is not None else text.encode(), infer_schema=False, has_header=True,
                           raise_if_empty=True)
    except (pl.exceptions.PolarsError, ValueError):
        _locate_ragged(name, text)
        raise InputError(name, None, None, "not a readable CSV file") from None


def _locate_ragged(name: str, text: str) -> None:
    """Name the first record whose field count differs from the header's (why polars refused)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    start = reader.line_num + 1
    for record in reader:
        if record and len(record) != len(header):
            raise InputError(name, start, None, f"{len(record)} fields where the header has {len(header)}")
        start = reader.line_num + 1


def _record_lines(text: str) -> list[int]:
    """The line each data record starts on, in the order polars returns them (blank lines included)."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    lines, start = [], reader.line_num + 1
    for _record in reader:
        lines.append(start)
        start = reader.line_num + 1
    return lines


def _validate(name: str, frame: pl.DataFrame, spec: _Spec, text: str) -> pl.DataFrame:
    renamed = {column: column.strip().lstrip("\ufeff").lower() for column in frame.columns}
    seen: dict[str, str] = {}
    for original, clean in renamed.items():
        if clean in spec.columns and clean in seen:
            raise InputError(name, 1, clean, "column appears twice in the header")
        seen[clean] = original
    for column in spec.columns:
        if column not in seen:
            raise InputError(name, 1, column, "missing column")
    frame = frame.select([pl.col(seen[c]).alias(c) for c in spec.columns])
    frame = frame.with_columns(pl.all().fill_null("").str.strip_chars())
    # Lines are located by position: the physical line each record starts on (quoted newlines count).
    frame = frame.with_row_index("_row")
    blank = pl.all_horizontal([pl.col(c) == "" for c in spec.columns])
    frame = frame.filter(~blank)
    parsed = frame.with_columns(
        pl.col("supplier_ref").str.to_lowercase().alias("key"),
        pl.col("status").str.to_lowercase(),
        pl.col("currency").str.to_uppercase(),
        pl.col("check_in").str.to_date(DATE_FORMAT, strict=False).alias("_check_in"),
        pl.col("check_out").str.to_date(DATE_FORMAT, strict=False).alias("_check_out"),
    )
    parsed = with_units(parsed, spec.amount, "_amount")
    checks: list[tuple[str, pl.Expr, str]] = [
        *((column, pl.col(column) == "", "empty value") for column in spec.required),
        ("check_in", pl.col("_check_in").is_null(), "unparsable date (expected YYYY-MM-DD)"),
        ("check_out", pl.col("_check_out").is_null(), "unparsable date (expected YYYY-MM-DD)"),
        ("status", ~pl.col("status").is_in(spec.statuses), f"unknown status (expected {'|'.join(spec.statuses)})"),
        (spec.amount, pl.col("_amount").is_null(), ""),
        ("currency", ~pl.col("currency").str.contains(r"^[A-Z]{3}$"), "not a three-letter ISO-4217 currency"),
    ]
    flags = parsed.select([expr.alias(f"_bad{i}") for i, (_c, expr, _r) in enumerate(checks)])
    bad_any = flags.select(pl.any_horizontal(pl.all()).arg_true())
    if bad_any.height:
        first = bad_any.item(0, 0)
        row = parsed.row(first, named=True)
        for i, (column, _expr, reason) in enumerate(checks):
            if flags.item(first, i):
                value = row[column]
                if column == spec.amount and reason == "":
                    reason = amount_problem(value)
                elif reason != "empty value":
                    reason = f"{reason}: {value!r}"
                raise InputError(name, _line_of(text, row["_row"]), column, reason)
    return parsed.select(
        *(pl.col(c) for c in spec.columns if c not in ("check_in", "check_out", spec.amount, "status", "currency")),
        "key",
        pl.col("_check_in").alias("check_in"),
        pl.col("_check_out").alias("check_out"),
        "status",
        pl.col("_amount").alias(spec.amount),
        "currency",
        (pl.col("_row").cast(pl.Int64)).alias("line"),
    ).with_columns(_line_column(text, frame))


def _line_column(text: str, frame: pl.DataFrame) -> pl.Expr:
    """Physical start lines for the surviving rows; cheap path when no record spans lines."""
    if _has_multiline_quotes(text):
        lines = _record_lines(text)
        mapping = pl.Series("line", [lines[i] if i < len(lines) else i + 2 for i in frame["_row"].to_list()],
                            dtype=pl.Int64)
        return pl.lit(mapping).alias("line")
    return (pl.col("line") + 2).alias("line")


def _has_multiline_quotes(text: str) -> bool:
    if '"' not in text:
        return False
    reader = csv.reader(io.StringIO(text))
    records = sum(1 for _ in reader)
    physical = text.count("\n") + (0 if text.endswith("\n") else 1)
    return records != physical


def _line_of(text: str, row: int) -> int:
    if _has_multiline_quotes(text):
        lines = _record_lines(text)
        return lines[row] if row < len(lines) else row + 2
    return row + 2


def _refuse_repeated_refs(name: str, frame: pl.DataFrame) -> None:
    if frame.select(pl.col("key").n_unique()).item() == frame.height:
        return
    repeated = frame.filter(~pl.col("key").is_first_distinct())
    if repeated.height:
        row = repeated.row(0, named=True)
        first = frame.filter(pl.col("key") == row["key"])["line"][0]
        raise InputError(name, row["line"], "supplier_ref",
                         f"supplier_ref {row['supplier_ref']!r} repeats the order on line {first}"
                         " (each order needs its own supplier reference)")
