"""Operator actions on partners: list and read them with their sub-agents and credentials, create, suspend and
reactivate, change tier, credit limit or commission, add, rotate and revoke API credentials.

Every change is validated (AdminError names the field), written with its audit entry in one transaction, and
reaches every API process at once (migration 0030 notifies `access_changed`, `core.access` reloads): a suspended
partner's tokens and secrets, and those of every sub-agent under it, get 403 `partner_suspended`; a revoked
credential's secret and tokens get 401, and so do tokens issued before a rotation.
"""

from __future__ import annotations

import re
import secrets
import uuid
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import audit
from core.admin_errors import AdminError, contains_pattern, invalid, not_found, page_bounds
from core.crypto import hash_secret
from core.orders.credit import HOLDING_CREDIT, credit_json, exposure_sql
from core.partners import Credentials, insert_credentials, insert_partner

STATUSES = ("active", "suspended")
TIER_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")
MAX_AMOUNT = Decimal("999999999999.99")  # partners.credit_limit is NUMERIC(14,2)
_PARTNER_COLUMNS = ("p.id, p.name, p.parent_id, p.tier, p.credit_limit, p.credit_currency, p.commission_pct,"
                    " p.status, p.created_at,"
                    " (SELECT count(*) FROM partners s WHERE s.parent_id = p.id) AS sub_agents,"
                    " (SELECT count(*) FROM api_credentials c WHERE c.partner_id = p.id AND c.active)"
                    " AS active_credentials,"
                    " (SELECT count(*) FROM pricing_rules r WHERE r.active AND r.level = 'partner'"
                    "  AND (r.partner_tier IS NULL OR r.partner_tier = p.tier)"
                    "  AND (r.partner_id IS NULL OR r.partner_id = p.id)) AS partner_rules,"
                    f" ({exposure_sql('p.id')}) AS credit_used")


def partner_json(row) -> dict:
    return {
        "partner_id": str(row["id"]), "name": row["name"],
        "parent_id": str(row["parent_id"]) if row["parent_id"] else None, "tier": row["tier"],
        # What the order flow checks a new order against (core.orders.credit): orders still holding credit.
        **credit_json(row["credit_limit"], row["credit_used"], row["credit_currency"]),
        "commission_pct": str(row["commission_pct"]), "status": row["status"],
        "created_at": row["created_at"].isoformat(), "sub_agents": row["sub_agents"],
        "active_credentials": row["active_credentials"],
        # Pricing rules are free to name any tier: a tier no partner-level rule names (a typo, a tier retired)
        # silently drops the partner markup from every quote, so it is said wherever the partner is shown.
        "partner_rules": row["partner_rules"],
        "warnings": [] if row["partner_rules"] else [
            f"no active partner-level pricing rule names tier '{row['tier']}' or this partner: its quotes carry "
            "no partner markup (hotelctl pricing list)"],
    }


def credential_json(row) -> dict:
    return {
        "client_id": row["client_id"], "role": row["role"], "active": row["active"],
        "generation": row["generation"], "created_at": row["created_at"].isoformat(),
        "last_used_at": _iso(row["last_used_at"]), "rotated_at": _iso(row["rotated_at"]),
        "revoked_at": _iso(row["revoked_at"]),
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def partner_uuid(value, field: str = "partner_id") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise invalid(field, "not a partner id (UUID)") from None


def _amount(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise invalid(field, f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise invalid(field, "must be a non-negative amount")
    if amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise invalid(field, "at most 999999999999.99, with at most two decimals")
    return amount


def _currency(value: str, field: str = "currency") -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise invalid(field, "expected a three-letter ISO-4217 code")
    return value.upper()


def _tier(value: str) -> str:
    if not isinstance(value, str) or not TIER_PATTERN.match(value):
        raise invalid("tier", "lowercase letters, digits, '-' or '_', starting with a letter, at most 30")
    return value


def _commission(value) -> Decimal:
    try:
        pct = Decimal(str(value))
    except InvalidOperation:
        raise invalid("commission_pct", f"{value!r} is not a number") from None
    if not pct.is_finite() or not 0 <= pct <= 100 or pct != pct.quantize(Decimal("0.01")):
        raise invalid("commission_pct", "must be between 0 and 100, with at most two decimals")
    return pct


def _load(conn: Connection, partner_id: uuid.UUID, lock: bool = False):
    row = conn.execute(sa.text(f"SELECT {_PARTNER_COLUMNS} FROM partners p WHERE p.id = :id"
                               + (" FOR UPDATE OF p" if lock else "")), {"id": partner_id}).mappings().first()
    if row is None:
        raise not_found("partner")
    return row


def list_partners(engine: Engine, *, status: str | None = None, tier: str | None = None,
                  parent_id: str | uuid.UUID | None = None, top_level: bool = False, name: str | None = None,
                  limit: int = 50, offset: int = 0) -> dict:
    """Partners by name; filters: status, tier, parent (its sub-agents), top-level only, name contains."""
    page_bounds(limit, offset)
    where, params = [], {"limit": limit, "offset": offset}
    if status is not None:
        if status not in STATUSES:
            raise invalid("status", f"one of {', '.join(STATUSES)}")
        where.append("p.status = :status")
        params["status"] = status
    if tier is not None:
        where.append("p.tier = :tier")
        params["tier"] = _tier(tier)
    if parent_id is not None:
        where.append("p.parent_id = :parent")
        params["parent"] = partner_uuid(parent_id, "parent_id")
    elif top_level:
        where.append("p.parent_id IS NULL")
    if name:
        where.append("p.name ILIKE :name")
        params["name"] = contains_pattern(name)
    clause = " WHERE " + " AND ".join(where) if where else ""
    with engine.connect() as conn:
        total = conn.execute(sa.text(f"SELECT count(*) FROM partners p{clause}"), params).scalar_one()
        rows = conn.execute(sa.text(f"SELECT {_PARTNER_COLUMNS} FROM partners p{clause}"
                                    " ORDER BY p.name, p.id LIMIT :limit OFFSET :offset"), params).mappings().all()
    return {"items": [partner_json(row) for row in rows], "total": total, "limit": limit, "offset": offset}


def get_partner(engine: Engine, partner_id) -> dict:
    """One partner with its parent chain's status, its sub-agents (first 100) and its credentials."""
    partner_id = partner_uuid(partner_id)
    with engine.connect() as conn:
        partner = partner_json(_load(conn, partner_id))
        subs = conn.execute(sa.text(f"SELECT {_PARTNER_COLUMNS} FROM partners p WHERE p.parent_id = :id"
                                    " ORDER BY p.name LIMIT 100"), {"id": partner_id}).mappings().all()
        credentials = conn.execute(sa.text(
            "SELECT client_id, role, active, generation, created_at, last_used_at, rotated_at, revoked_at"
            " FROM api_credentials WHERE partner_id = :id ORDER BY created_at"), {"id": partner_id}).mappings().all()
        suspended_above = conn.execute(sa.text("""
WITH RECURSIVE up AS (
    SELECT parent_id, 0 AS depth FROM partners WHERE id = :id
    UNION ALL SELECT p.parent_id, up.depth + 1 FROM partners p JOIN up ON p.id = up.parent_id WHERE up.depth < 32
) SELECT p.id FROM up JOIN partners p ON p.id = up.parent_id WHERE p.status <> 'active' LIMIT 1"""),
            {"id": partner_id}).scalar()
    return {**partner, "suspended_by_parent": str(suspended_above) if suspended_above else None,
            "sub_agent_list": [partner_json(row) for row in subs],
            "credentials": [credential_json(row) for row in credentials]}


def create(engine: Engine, actor: audit.Actor, name: str, *, tier: str = "standard",
           credit_limit="100000", currency: str = "CNY", commission_pct="0",
           parent_id=None) -> tuple[dict, Credentials]:
    """A partner (or a sub-agent of `parent_id`) and its first credentials (the secret is returned once)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise invalid("name", "1 to 200 characters")
    values = dict(tier=_tier(tier), credit_limit=_amount(credit_limit, "credit_limit"),
                  currency=_currency(currency), commission_pct=_commission(commission_pct))
    parent = partner_uuid(parent_id, "parent_id") if parent_id is not None else None
    with engine.begin() as conn:
        if parent is not None and conn.execute(sa.text("SELECT 1 FROM partners WHERE id = :id"),
                                               {"id": parent}).first() is None:
            raise invalid("parent_id", "no such partner")
        credentials = insert_partner(conn, name, parent_id=parent, **values)
        row = partner_json(_load(conn, credentials.partner_id))
        audit.record(conn, actor, "partner.create", f"partner:{credentials.partner_id}", None,
                     {**row, "client_id": credentials.client_id})
    return row, credentials


def _set_status(engine: Engine, actor: audit.Actor, partner_id, status: str, note: str) -> dict:
    partner_id = partner_uuid(partner_id)
    with engine.begin() as conn:
        before = partner_json(_load(conn, partner_id, lock=True))
        if before["status"] == status:
            raise AdminError(409, "conflict", f"the partner is already {status}", "status")
        conn.execute(sa.text("UPDATE partners SET status = :s WHERE id = :id"), {"s": status, "id": partner_id})
        after = partner_json(_load(conn, partner_id))
        audit.record(conn, actor, "partner.suspend" if status == "suspended" else "partner.reactivate",
                     f"partner:{partner_id}", {"status": before["status"]}, {"status": status}, note)
    return after


def suspend(engine: Engine, actor: audit.Actor, partner_id, note: str = "") -> dict:
    """Refuse the partner, and every sub-agent under it, at once (403 `partner_suspended`)."""
    return _set_status(engine, actor, partner_id, "suspended", note)


def reactivate(engine: Engine, actor: audit.Actor, partner_id, note: str = "") -> dict:
    return _set_status(engine, actor, partner_id, "active", note)


def update(engine: Engine, actor: audit.Actor, partner_id, *, tier: str | None = None, credit_limit=None,
           currency: str | None = None, commission_pct=None, name: str | None = None, note: str = "") -> dict:
    """Change tier, credit limit (and its currency), commission or name; only what is given changes."""
    partner_id = partner_uuid(partner_id)
    changes: dict = {}
    if tier is not None:
        changes["tier"] = _tier(tier)
    if credit_limit is not None:
        changes["credit_limit"] = _amount(credit_limit, "credit_limit")
    if currency is not None:
        changes["credit_currency"] = _currency(currency)
    if commission_pct is not None:
        changes["commission_pct"] = _commission(commission_pct)
    if name is not None:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise invalid("name", "1 to 200 characters")
        changes["name"] = name
    if not changes:
        raise invalid("body", "nothing to change: give tier, credit_limit, currency, commission_pct or name")
    with engine.begin() as conn:
        before = dict(_load(conn, partner_id, lock=True))
        if changes.get("credit_currency", before["credit_currency"]) != before["credit_currency"]:
            _no_credit_held(conn, partner_id, before["credit_currency"])
        conn.execute(sa.text(f"UPDATE partners SET {', '.join(f'{c} = :{c}' for c in changes)} WHERE id = :id"),
                     {**changes, "id": partner_id})
        after = _load(conn, partner_id)
        audit.record(conn, actor, "partner.update", f"partner:{partner_id}",
                     {column: before[column] for column in changes}, {column: after[column] for column in changes},
                     note)
    return partner_json(after)


def _no_credit_held(conn: Connection, partner_id: uuid.UUID, currency: str) -> None:
    """The credit check adds up what orders hold in the partner's credit currency: it changes only when none
    holds any (the partner row is locked, so no order can take credit meanwhile)."""
    holding = conn.execute(sa.text(f"SELECT count(*) FROM orders WHERE partner_id = :id AND {HOLDING_CREDIT}"),
                           {"id": partner_id}).scalar_one()
    if holding:
        raise AdminError(409, "conflict", f"{holding} order(s) hold credit in {currency}; the credit currency can "
                                          "change once none does (cancelled, expired or paid)", "currency")


def _credential(conn: Connection, client_id: str, lock: bool = False):
    row = conn.execute(sa.text(
        "SELECT client_id, role, partner_id, active, generation, created_at, last_used_at, rotated_at, revoked_at"
        " FROM api_credentials WHERE client_id = :c" + (" FOR UPDATE" if lock else "")),
        {"c": client_id}).mappings().first()
    if row is None:
        raise not_found("credential")
    return row


def add_credential(engine: Engine, actor: audit.Actor, partner_id, note: str = "") -> Credentials:
    """Another credential for the partner (rotation without downtime: add, switch, revoke the old one)."""
    partner_id = partner_uuid(partner_id)
    with engine.begin() as conn:
        _load(conn, partner_id)
        credentials = insert_credentials(conn, "partner", partner_id)
        audit.record(conn, actor, "credential.create", f"credential:{credentials.client_id}", None,
                     {"partner_id": str(partner_id), "client_id": credentials.client_id}, note)
    return credentials


def rotate_credential(engine: Engine, actor: audit.Actor, client_id: str, note: str = "") -> Credentials:
    """A new secret for the credential (returned once); the old secret and every token issued with it stop
    working at once."""
    secret = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        before = _credential(conn, client_id, lock=True)
        if not before["active"]:
            raise AdminError(409, "credential_revoked", "a revoked credential cannot be rotated", "client_id")
        conn.execute(sa.text("UPDATE api_credentials SET secret_hash = :h, generation = generation + 1,"
                             " rotated_at = now() WHERE client_id = :c"),
                     {"h": hash_secret(secret, secrets.token_bytes(16)), "c": client_id})
        after = _credential(conn, client_id)
        audit.record(conn, actor, "credential.rotate", f"credential:{client_id}",
                     {"generation": before["generation"]}, {"generation": after["generation"]}, note)
    return Credentials(client_id, secret, before["role"], before["partner_id"])


def revoke_credential(engine: Engine, actor: audit.Actor, client_id: str, note: str = "") -> dict:
    """The credential's secret and every token issued with it stop working at once."""
    with engine.begin() as conn:
        before = _credential(conn, client_id, lock=True)
        if not before["active"]:
            raise AdminError(409, "conflict", "the credential is already revoked", "client_id")
        conn.execute(sa.text("UPDATE api_credentials SET active = false, revoked_at = now() WHERE client_id = :c"),
                     {"c": client_id})
        after = _credential(conn, client_id)
        audit.record(conn, actor, "credential.revoke", f"credential:{client_id}", {"active": True},
                     {"active": False}, note)
    return credential_json(after)
