"""The `hotelctl match` file contract: read catalog and supplier CSVs strictly, write matches atomically.

Any file problem raises `CsvInputError` naming the file, the line (1 = header) and the column.
Encoding is UTF-8 with or without a BOM; quoted fields may hold commas and newlines; empty optional
fields are None. Coordinates may be empty together (no geo data), never half-given or unparsable.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from core.matching.records import CatalogHotel, MatchDecision, SupplierHotel

CATALOG_COLUMNS = ("hotel_id", "name", "name_local", "address", "city", "country", "lat", "lon", "star", "phone")
SUPPLIER_COLUMNS = ("supplier_code", "supplier_hotel_id", "name", "address", "city", "country", "lat", "lon", "star",
                    "phone")
MATCH_COLUMNS = ("supplier_code", "supplier_hotel_id", "hotel_id", "score", "decision")
_STAR_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:\*|stars?|★)?\s*$", re.IGNORECASE)


class CsvInputError(ValueError):
    def __init__(self, path: Path | str, line: int | None, column: str | None, reason: str) -> None:
        where = f"{path}"
        if line is not None:
            where += f", line {line}"
        if column:
            where += f", column {column}"
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.column, self.reason = str(path), line, column, reason


def csv_rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as error:
        raise CsvInputError(path, None, None, f"cannot open: {error.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise CsvInputError(path, 1, None, "the file is empty (expected a header row)")
            header = [h.strip().lower() for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                raise CsvInputError(path, 1, missing[0], f"missing column(s) {', '.join(missing)}; "
                                                         f"expected {','.join(columns)}")
            position = {c: header.index(c) for c in columns}
            start = reader.line_num + 1
            for raw in reader:
                line = start
                start = reader.line_num + 1
                if not any(cell.strip() for cell in raw):
                    continue
                if len(raw) < len(header):
                    raw = raw + [""] * (len(header) - len(raw))
                yield line, {c: raw[position[c]].strip() for c in columns}
        except UnicodeDecodeError as error:
            raise CsvInputError(path, _undecodable_line(path), None, f"not UTF-8 text ({error.reason})") from None
        except csv.Error as error:
            raise CsvInputError(path, reader.line_num, None, f"malformed CSV: {error}") from None


def _undecodable_line(path: Path) -> int | None:
    """The line of the first byte that is not UTF-8 (the reader decodes ahead, so its own count is early)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return data.count(b"\n", 0, error.start) + 1
    return None


def required(path: Path, line: int, row: dict[str, str], column: str) -> str:
    value = row[column]
    if not value:
        raise CsvInputError(path, line, column, "must not be empty")
    return value


def _coordinates(path: Path, line: int, row: dict[str, str]) -> tuple[float | None, float | None]:
    lat_text, lon_text = row["lat"], row["lon"]
    if not lat_text and not lon_text:
        return None, None
    values = []
    for column, text, limit in (("lat", lat_text, 90.0), ("lon", lon_text, 180.0)):
        if not text:
            raise CsvInputError(path, line, column, "empty while the other coordinate is given")
        try:
            value = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
        except ValueError:
            raise CsvInputError(path, line, column, f"{text!r} is not a number") from None
        if not -limit <= value <= limit or value != value:
            raise CsvInputError(path, line, column, f"{text} is outside -{limit:g}..{limit:g}")
        values.append(value)
    return values[0], values[1]


def _star(path: Path, line: int, text: str) -> float | None:
    if not text:
        return None
    if set(text) <= {"*", "★"}:
        return float(len(text))
    match = _STAR_RE.match(text)
    if not match:
        raise CsvInputError(path, line, "star", f"{text!r} is not a star rating")
    value = float(match.group(1).replace(",", "."))
    if not 0 <= value <= 5:
        raise CsvInputError(path, line, "star", f"{text} is outside 0..5")
    return value


def read_catalog(path: Path | str) -> list[CatalogHotel]:
    path = Path(path)
    hotels: list[CatalogHotel] = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(path, CATALOG_COLUMNS):
        hotel_id = required(path, line, row, "hotel_id")
        if hotel_id in seen:
            raise CsvInputError(path, line, "hotel_id", f"{hotel_id!r} repeats line {seen[hotel_id]}")
        seen[hotel_id] = line
        lat, lon = _coordinates(path, line, row)
        hotels.append(CatalogHotel(
            hotel_id=hotel_id, name=required(path, line, row, "name"), name_local=row["name_local"] or None,
            address=row["address"] or None, city=row["city"] or None, country=row["country"] or None,
            lat=lat, lon=lon, star=_star(path, line, row["star"]), phone=row["phone"] or None,
        ))
    return hotels


def read_suppliers(path: Path | str) -> list[SupplierHotel]:
    path = Path(path)
    hotels: list[SupplierHotel] = []
    for line, row in csv_rows(path, SUPPLIER_COLUMNS):
        lat, lon = _coordinates(path, line, row)
        hotels.append(SupplierHotel(
            supplier_code=required(path, line, row, "supplier_code"),
            supplier_hotel_id=required(path, line, row, "supplier_hotel_id"),
            name=required(path, line, row, "name"), address=row["address"] or None, city=row["city"] or None,
            country=row["country"] or None, lat=lat, lon=lon, star=_star(path, line, row["star"]),
            phone=row["phone"] or None,
        ))
    return hotels


def proposed_hotel_id(decision: MatchDecision) -> str:
    """The id proposed for a new master hotel (the asset inserts it under this id)."""
    return f"NEW-{decision.supplier_code}-{decision.supplier_hotel_id}"


def write_csv_atomic(path: Path | str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Written to a temporary file beside `path` and renamed, so never half-written."""
    path = Path(path)
    directory = path.resolve().parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_matches(path: Path | str, decisions: Sequence[MatchDecision]) -> None:
    """One row per decision, in order."""
    def rows() -> Iterator[tuple]:
        for d in decisions:
            hotel_id = d.hotel_id if d.decision == "auto" else proposed_hotel_id(d) if d.decision == "new" else ""
            yield d.supplier_code, d.supplier_hotel_id, hotel_id or "", f"{d.score:.4f}", d.decision

    write_csv_atomic(path, MATCH_COLUMNS, rows())
