"""The staff audit log: who did what, when, to which object, with the object before and after.

Write the entry in the same transaction as the change it records (`record(conn, ...)`), so a change
never lands without its entry nor an entry without its change. `action` is `<area>.<verb>`
(`partner.suspend`, `order.approve`), `target` names the object (`partner:<id>`, `order:<id>`),
`source` is where the staff member acted: console, api or cli.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import csv_export

SOURCES = ("console", "api", "cli", "system")
CSV_COLUMNS = ("id", "at", "actor", "actor_role", "source", "action", "target", "note", "before", "after")


@dataclass(frozen=True, slots=True)
class Actor:
    """A named staff member (or the CLI user) acting through one of SOURCES."""

    name: str
    role: str
    source: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (Decimal, dt.date, dt.datetime)):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# Core functions take as the one acting either a staff `Actor` (the change is audited) or, for the platform's
# own jobs and older callers, a plain name (recorded where the function records names, not audited).

def name_of(who: str | Actor) -> str:
    return who.name if isinstance(who, Actor) else who


def record_by(conn: Connection, who: str | Actor, action: str, target: str, before: dict | None = None,
              after: dict | None = None, note: str = "") -> int | None:
    """`record` when `who` is a staff Actor; nothing for a plain name (a system job)."""
    if isinstance(who, Actor):
        return record(conn, who, action, target, before, after, note)
    return None


def record(conn: Connection, actor: Actor, action: str, target: str, before: dict | None = None,
           after: dict | None = None, note: str = "") -> int:
    """Append one entry inside the caller's transaction; returns its id."""
    if actor.source not in SOURCES:
        raise ValueError(f"audit source must be one of {SOURCES}, not {actor.source!r}")
    return conn.execute(
        sa.text("INSERT INTO audit_log (actor, actor_role, source, action, target, before, after, note)"
                " VALUES (:actor, :role, :source, :action, :target, CAST(:before AS jsonb),"
                " CAST(:after AS jsonb), :note) RETURNING id"),
        {"actor": actor.name, "role": actor.role, "source": actor.source, "action": action, "target": target,
         "before": json.dumps(_jsonable(before)) if before is not None else None,
         "after": json.dumps(_jsonable(after)) if after is not None else None, "note": note},
    ).scalar_one()


async def record_async(conn, actor: Actor, action: str, target: str, before: dict | None = None,
                       after: dict | None = None, note: str = "") -> int:
    """`record` on an asyncpg connection (the order flow's), inside the caller's transaction."""
    if actor.source not in SOURCES:
        raise ValueError(f"audit source must be one of {SOURCES}, not {actor.source!r}")
    return await conn.fetchval(
        "INSERT INTO audit_log (actor, actor_role, source, action, target, before, after, note)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8) RETURNING id",
        actor.name, actor.role, actor.source, action, target,
        json.dumps(_jsonable(before)) if before is not None else None,
        json.dumps(_jsonable(after)) if after is not None else None, note)


def search(engine: Engine, *, actor: str | None = None, action: str | None = None, target: str | None = None,
           source: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
           limit: int = 50, offset: int = 0) -> list[dict]:
    """Newest first. `action` matches a prefix (`partner.` gives every partner action), `target` exactly."""
    where, params = [], {"limit": limit, "offset": offset}
    for column, value in (("actor", actor), ("source", source), ("target", target)):
        if value:
            where.append(f"{column} = :{column}")
            params[column] = value
    if action:
        where.append("action LIKE :action")
        params["action"] = action.replace("%", r"\%").replace("_", r"\_") + "%"
    if since:
        where.append("at >= :since")
        params["since"] = since
    if until:
        where.append("at < :until")
        params["until"] = until
    sql = ("SELECT id, at, actor, actor_role, source, action, target, before, after, note FROM audit_log"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT :limit OFFSET :offset")
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.text(sql), params).mappings()]


def as_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv_export.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row["at"].isoformat() if column == "at"
                         else json.dumps(row[column]) if column in ("before", "after") and row[column] is not None
                         else row[column] for column in CSV_COLUMNS])
    return out.getvalue()
