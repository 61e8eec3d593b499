"""The warehouse schema as versioned DDL files (`warehouse/ddl/NNNN_name.sql`), applied in order.

Each file runs once; `hotel_analytics.schema_versions` records what ran. The statements are also
written `IF NOT EXISTS`, so a half-applied file (a crash between two statements) reruns safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from warehouse.client import DATABASE

DDL_DIR = Path(__file__).resolve().parent / "ddl"
_VERSION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class DdlFile:
    version: str
    path: Path

    def statements(self) -> list[str]:
        text = "\n".join(line for line in self.path.read_text().splitlines() if not line.lstrip().startswith("--"))
        return [statement.strip() for statement in text.split(";") if statement.strip()]


def ddl_files(directory: Path = DDL_DIR) -> list[DdlFile]:
    files = []
    for path in sorted(directory.glob("*.sql")):
        match = _VERSION_FILE.match(path.name)
        if not match:
            raise ValueError(f"{path}: DDL file names must look like 0001_name.sql")
        files.append(DdlFile(match.group(1), path))
    versions = [item.version for item in files]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{directory}: two DDL files share a version number")
    return files


def applied_versions(client: Client) -> set[str]:
    rows = client.query(f"SELECT version FROM {DATABASE}.schema_versions").result_rows
    return {row[0] for row in rows}


def _up_to_date(client: Client, files: list[DdlFile]) -> bool:
    """Every file already applied: one read, no DDL (a pipeline step checks this on every run)."""
    try:
        done = applied_versions(client)
    except DatabaseError:  # no database or no schema_versions table yet
        return False
    return all(ddl.version in done for ddl in files)


def apply_schema(client: Client) -> list[str]:
    """Create the database and apply every DDL file not applied yet; the versions applied now."""
    files = ddl_files()
    if _up_to_date(client, files):
        return []
    client.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {DATABASE}.schema_versions "
        "(version String, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = applied_versions(client)
    applied = []
    for ddl in files:
        if ddl.version in done:
            continue
        for statement in ddl.statements():
            client.command(statement)
        client.insert(f"{DATABASE}.schema_versions", [[ddl.version, ddl.path.name]], column_names=["version", "name"])
        applied.append(ddl.version)
    return applied
