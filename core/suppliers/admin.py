"""Operator actions on suppliers: the list with health (this process's circuit breaker, recent calls, the last
successful content and inventory sync, quarantined records), enable and disable, API key rotation (stored encrypted
with ENCRYPTION_SECRET, as `register_supplier` does), and the sync runs and quarantined records with their reasons.

A disabled supplier is neither synced (`enabled_suppliers` leaves it out of every sync) nor quoted: migration 0030
notifies every API process, whose quote caches drop its products before the next quote (`core.quotes.caches`).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import audit
from core.admin_errors import AdminError, contains_pattern, invalid, not_found, page_bounds
from core.crypto import encrypt
from core.suppliers.breaker import CLOSED, breaker_states

FEEDS = ("content", "inventory")
RUN_STATUSES = ("ok", "partial", "failed", "contract_failed")
RECENT_CALLS_MINUTES = 15

_LIST_SQL = f"""
SELECT s.code, s.name, s.protocol, s.base_url, s.enabled, s.reliability, s.updated_at,
       s.api_key_encrypted IS NOT NULL AS key_stored,
       (SELECT max(finished_at) FROM supplier_sync_runs r
        WHERE r.supplier_code = s.code AND r.feed = 'content' AND r.status = 'ok') AS last_content_sync,
       (SELECT max(finished_at) FROM supplier_sync_runs r
        WHERE r.supplier_code = s.code AND r.feed = 'inventory' AND r.status = 'ok') AS last_inventory_sync,
       (SELECT status FROM supplier_sync_runs r WHERE r.supplier_code = s.code ORDER BY r.id DESC LIMIT 1)
           AS last_run_status,
       (SELECT count(*) FROM supplier_quarantine q WHERE q.supplier_code = s.code) AS quarantined,
       (SELECT count(*) FROM supplier_quarantine q
        WHERE q.supplier_code = s.code AND q.created_at > now() - interval '1 day') AS quarantined_24h,
       (SELECT count(*) FROM supplier_calls c
        WHERE c.supplier_code = s.code AND c.started_at > now() - interval '{RECENT_CALLS_MINUTES} minutes')
           AS calls_recent,
       (SELECT count(*) FROM supplier_calls c WHERE c.supplier_code = s.code AND c.outcome <> 'ok'
        AND c.started_at > now() - interval '{RECENT_CALLS_MINUTES} minutes') AS failed_calls_recent
FROM suppliers s
"""


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _supplier_json(row, breakers: dict[str, str]) -> dict:
    return {
        "code": row["code"], "name": row["name"], "protocol": row["protocol"], "base_url": row["base_url"],
        "enabled": row["enabled"], "reliability": str(row["reliability"]), "key_stored": row["key_stored"],
        "updated_at": _iso(row["updated_at"]),
        "health": {
            "breaker": breakers.get(row["code"], CLOSED),
            "last_content_sync": _iso(row["last_content_sync"]),
            "last_inventory_sync": _iso(row["last_inventory_sync"]), "last_run_status": row["last_run_status"],
            "quarantined": row["quarantined"], "quarantined_24h": row["quarantined_24h"],
            "calls_recent": row["calls_recent"], "failed_calls_recent": row["failed_calls_recent"],
            "recent_window_minutes": RECENT_CALLS_MINUTES,
        },
    }


def _code(code: str) -> str:
    if not isinstance(code, str) or not 1 <= len(code) <= 20:
        raise invalid("code", "1 to 20 characters")
    return code.upper()


def list_suppliers(engine: Engine, *, enabled: bool | None = None) -> dict:
    """Every registered supplier with its health; `breaker` is this process's circuit breaker for it."""
    sql = _LIST_SQL + (" WHERE s.enabled = :enabled" if enabled is not None else "") + " ORDER BY s.code"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), {"enabled": enabled}).mappings().all()
    breakers = breaker_states()
    return {"items": [_supplier_json(row, breakers) for row in rows]}


def get_supplier(engine: Engine, code: str) -> dict:
    code = _code(code)
    with engine.connect() as conn:
        row = conn.execute(sa.text(_LIST_SQL + " WHERE s.code = :code"), {"code": code}).mappings().first()
    if row is None:
        raise not_found("supplier")
    return _supplier_json(row, breaker_states())


def set_enabled(engine: Engine, actor: audit.Actor, code: str, enabled: bool, note: str = "") -> dict:
    """Enable or disable a supplier: a disabled one leaves the next quote and every later sync."""
    code = _code(code)
    with engine.begin() as conn:
        before = conn.execute(sa.text("SELECT enabled FROM suppliers WHERE code = :code FOR UPDATE"),
                              {"code": code}).scalar()
        if before is None:
            raise not_found("supplier")
        if before == enabled:
            raise AdminError(409, "conflict", f"the supplier is already {'enabled' if enabled else 'disabled'}",
                             "enabled")
        conn.execute(sa.text("UPDATE suppliers SET enabled = :e, updated_at = now() WHERE code = :code"),
                     {"e": enabled, "code": code})
        audit.record(conn, actor, "supplier.enable" if enabled else "supplier.disable", f"supplier:{code}",
                     {"enabled": before}, {"enabled": enabled}, note)
    return get_supplier(engine, code)


def rotate_key(engine: Engine, actor: audit.Actor, code: str, api_key: str, encryption_secret: str,
               note: str = "") -> dict:
    """Store a new API key for the supplier, encrypted with ENCRYPTION_SECRET (the key itself is never logged or
    audited). A SUPPLIER_<CODE>_API_KEY in the environment still wins over the stored key."""
    code = _code(code)
    if not isinstance(api_key, str) or not 8 <= len(api_key) <= 500 or api_key.strip() != api_key:
        raise invalid("api_key", "8 to 500 characters, no leading or trailing spaces")
    with engine.begin() as conn:
        found = conn.execute(sa.text("UPDATE suppliers SET api_key_encrypted = :key, updated_at = now()"
                                     " WHERE code = :code RETURNING code"),
                             {"key": encrypt(api_key, encryption_secret), "code": code}).first()
        if found is None:
            raise not_found("supplier")
        audit.record(conn, actor, "supplier.rotate_key", f"supplier:{code}", None, {"key_stored": True}, note)
    return get_supplier(engine, code)


def _filters(code: str | None, feed: str | None, limit: int, offset: int) -> tuple[list[str], dict]:
    page_bounds(limit, offset)
    where, params = [], {"limit": limit, "offset": offset}
    if code is not None:
        where.append("supplier_code = :code")
        params["code"] = _code(code)
    if feed is not None:
        if feed not in FEEDS:
            raise invalid("feed", f"one of {', '.join(FEEDS)}")
        where.append("feed = :feed")
        params["feed"] = feed
    return where, params


def sync_runs(engine: Engine, code: str | None = None, *, feed: str | None = None, status: str | None = None,
              limit: int = 50, offset: int = 0) -> dict:
    """Sync runs, newest first."""
    where, params = _filters(code, feed, limit, offset)
    if status is not None:
        if status not in RUN_STATUSES:
            raise invalid("status", f"one of {', '.join(RUN_STATUSES)}")
        where.append("status = :status")
        params["status"] = status
    clause = " WHERE " + " AND ".join(where) if where else ""
    with engine.connect() as conn:
        total = conn.execute(sa.text(f"SELECT count(*) FROM supplier_sync_runs{clause}"), params).scalar_one()
        rows = conn.execute(sa.text(
            "SELECT id, run_id, supplier_code, feed, started_at, finished_at, status, window_start, window_end,"
            " rows_fetched, rows_upserted, rows_quarantined, latency_ms, errors, cache_updated"
            f" FROM supplier_sync_runs{clause} ORDER BY id DESC LIMIT :limit OFFSET :offset"), params).mappings().all()
    items = [{**row, "started_at": _iso(row["started_at"]), "finished_at": _iso(row["finished_at"]),
              "window_start": _iso(row["window_start"]), "window_end": _iso(row["window_end"]),
              "latency_ms": str(row["latency_ms"]), "errors": _loads(row["errors"])} for row in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def quarantined(engine: Engine, code: str | None = None, *, feed: str | None = None, run_id: str | None = None,
                reason: str | None = None, limit: int = 50, offset: int = 0) -> dict:
    """Quarantined records with their reasons, newest first; `reason` matches a part of it."""
    where, params = _filters(code, feed, limit, offset)
    if run_id is not None:
        where.append("run_id = :run_id")
        params["run_id"] = run_id
    if reason:
        where.append("reason ILIKE :reason")
        params["reason"] = contains_pattern(reason)
    clause = " WHERE " + " AND ".join(where) if where else ""
    with engine.connect() as conn:
        total = conn.execute(sa.text(f"SELECT count(*) FROM supplier_quarantine{clause}"), params).scalar_one()
        rows = conn.execute(sa.text(
            "SELECT id, supplier_code, feed, record, reason, run_id, created_at"
            f" FROM supplier_quarantine{clause} ORDER BY id DESC LIMIT :limit OFFSET :offset"), params).mappings().all()
    items = [{**row, "record": _loads(row["record"]), "created_at": _iso(row["created_at"])} for row in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _loads(value):
    return json.loads(value) if isinstance(value, str) else value
