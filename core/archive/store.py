"""Where the raw-feed archive lives and how it is laid out, written, read and pruned.

Layout under the root: `<kind>/supplier=<code>/day=<YYYY-MM-DD>/<feed>-<run>-<n>.parquet`, kind being `responses`
(each HTTP answer: request, status, headers that matter, body), `rates` (the nightly rates parsed from them) or
`hotels` (the hotel content parsed). Supplier and day are also columns of every file, so DuckDB and polars read a
glob of files without hive typing. `day` is the UTC day the sync started: one sync's files stay together.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

KINDS = ("responses", "rates", "hotels")
MONEY = pa.decimal128(24, 8)

SCHEMAS: dict[str, pa.Schema] = {
    "responses": pa.schema([
        ("run_id", pa.string()), ("sync_run_id", pa.int64()), ("supplier", pa.string()), ("day", pa.date32()),
        ("feed", pa.string()), ("seq", pa.int32()), ("received_at", pa.timestamp("ms", tz="UTC")),
        ("operation", pa.string()), ("method", pa.string()), ("path", pa.string()), ("query", pa.string()),
        ("request", pa.string()), ("request_key", pa.string()), ("status", pa.int16()), ("date_header", pa.string()),
        ("content_type", pa.string()), ("body", pa.binary()), ("bytes", pa.int32()),
        ("window_start", pa.date32()), ("window_end", pa.date32()), ("batch_hotels", pa.int32()),
    ]),
    "rates": pa.schema([
        ("run_id", pa.string()), ("sync_run_id", pa.int64()), ("supplier", pa.string()), ("day", pa.date32()),
        ("supplier_hotel_id", pa.string()), ("room_code", pa.string()), ("room_name", pa.string()),
        ("board", pa.string()), ("rate_plan", pa.string()), ("stay_date", pa.date32()), ("net_amount", MONEY),
        ("currency", pa.string()), ("allotment", pa.int32()), ("refundable", pa.bool_()), ("rate_key", pa.string()),
    ]),
    "hotels": pa.schema([
        ("run_id", pa.string()), ("sync_run_id", pa.int64()), ("supplier", pa.string()), ("day", pa.date32()),
        ("supplier_hotel_id", pa.string()), ("name", pa.string()), ("address", pa.string()), ("city", pa.string()),
        ("country", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()), ("star", pa.float64()),
        ("phone", pa.string()),
    ]),
}


@dataclass
class ArchiveWrite:
    """What one sync added to the archive."""

    files: list[str] = field(default_factory=list)
    responses: int = 0
    rates: int = 0
    hotels: int = 0
    bytes: int = 0

    def metadata(self) -> dict:
        return {"archive_files": len(self.files), "archive_responses": self.responses, "archive_rates": self.rates,
                "archive_hotels": self.hotels, "archive_bytes": self.bytes}


@dataclass
class ArchivePrune:
    """Days dropped by retention, and what is left."""

    days_dropped: list[str] = field(default_factory=list)
    days_kept: int = 0
    files: int = 0
    bytes: int = 0

    def metadata(self) -> dict:
        return {"days_dropped": len(self.days_dropped), "days_kept": self.days_kept, "files": self.files,
                "bytes": self.bytes}


class FeedArchive:
    """The archive at `location`: a local folder, or a URL a pyarrow filesystem reads (s3://, gs://, file://)."""

    def __init__(self, location: str | Path) -> None:
        location = str(location)
        if "://" in location:
            self.fs, self.root = pafs.FileSystem.from_uri(location)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), str(Path(location).resolve())
        self.location = location

    @property
    def local_root(self) -> Path | None:
        """The folder, when the archive is local (DuckDB reads it directly)."""
        return Path(self.root) if isinstance(self.fs, pafs.LocalFileSystem) else None

    def _dir(self, kind: str, supplier: str, day: dt.date) -> str:
        return f"{self.root}/{kind}/supplier={supplier}/day={day.isoformat()}"

    def write(self, kind: str, supplier: str, day: dt.date, feed: str, run_id: str, rows: list[dict]) -> str | None:
        """One Parquet file of `rows` (dicts in the kind's schema); None when there are none."""
        if not rows:
            return None
        table = pa.Table.from_pylist(rows, schema=SCHEMAS[kind])
        folder = self._dir(kind, supplier, day)
        self.fs.create_dir(folder, recursive=True)
        path = f"{folder}/{feed}-{run_id}-{uuid.uuid4().hex[:8]}.parquet"
        pq.write_table(table, path, filesystem=self.fs, compression="zstd")
        return path

    def files(self, kind: str, supplier: str | None = None, day: dt.date | None = None) -> list[str]:
        base = f"{self.root}/{kind}"
        if supplier:
            base += f"/supplier={supplier}"
            if day:
                base += f"/day={day.isoformat()}"
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        found = [info for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]
        return sorted(info.path for info in found if info.path.endswith(".parquet")
                      and (day is None or f"/day={day.isoformat()}/" in info.path))

    def read(self, kind: str, supplier: str | None = None, day: dt.date | None = None) -> pa.Table:
        paths = self.files(kind, supplier, day)
        if not paths:
            return SCHEMAS[kind].empty_table()
        return pa.concat_tables([pq.read_table(path, filesystem=self.fs, schema=SCHEMAS[kind]) for path in paths])

    def suppliers(self, kind: str = "responses") -> list[str]:
        selector = pafs.FileSelector(f"{self.root}/{kind}", allow_not_found=True)
        return sorted(info.base_name.removeprefix("supplier=") for info in self.fs.get_file_info(selector)
                      if info.type == pafs.FileType.Directory and info.base_name.startswith("supplier="))

    def prune(self, retention_days: int, today: dt.date | None = None) -> ArchivePrune:
        """Drop every day older than `retention_days` before `today` (0: keep everything)."""
        today = today or dt.datetime.now(dt.UTC).date()
        cutoff = today - dt.timedelta(days=retention_days)
        pruned = ArchivePrune()
        kept: set[str] = set()
        for kind in KINDS:
            for supplier in self.suppliers(kind):
                selector = pafs.FileSelector(f"{self.root}/{kind}/supplier={supplier}", allow_not_found=True)
                for info in self.fs.get_file_info(selector):
                    if info.type != pafs.FileType.Directory or not info.base_name.startswith("day="):
                        continue
                    day = info.base_name.removeprefix("day=")
                    if retention_days and dt.date.fromisoformat(day) < cutoff:
                        self.fs.delete_dir(info.path)
                        pruned.days_dropped.append(f"{kind}/{supplier}/{day}")
                    else:
                        kept.add(day)
            selector = pafs.FileSelector(f"{self.root}/{kind}", recursive=True, allow_not_found=True)
            for info in self.fs.get_file_info(selector):
                if info.type == pafs.FileType.File:
                    pruned.files += 1
                    pruned.bytes += info.size or 0
        pruned.days_kept = len(kept)
        return pruned
