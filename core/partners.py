"""Partners (tenants, with sub-agents) and their API client credentials (staff sign in by name: core/staff.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.crypto import hash_secret


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    role: str
    partner_id: uuid.UUID | None


def create_partner(
    engine: Engine,
    name: str,
    *,
    tier: str = "standard",
    credit_limit: Decimal = Decimal("100000"),
    currency: str = "CNY",
    commission_pct: Decimal = Decimal("0"),
    parent_id: uuid.UUID | None = None,
) -> Credentials:
    """A new partner (or a sub-agent of `parent_id`) and its first API credentials."""
    with engine.begin() as conn:
        return insert_partner(conn, name, tier=tier, credit_limit=credit_limit, currency=currency,
                              commission_pct=commission_pct, parent_id=parent_id)


def insert_partner(conn, name: str, *, tier: str, credit_limit: Decimal, currency: str, commission_pct: Decimal,
                   parent_id: uuid.UUID | None) -> Credentials:
    """`create_partner` inside the caller's transaction."""
    partner_id = conn.execute(
        sa.text(
            "INSERT INTO partners (name, tier, credit_limit, credit_currency, commission_pct, parent_id)"
            " VALUES (:name, :tier, :limit, :currency, :commission, :parent) RETURNING id"
        ),
        dict(name=name, tier=tier, limit=credit_limit, currency=currency.upper(),
             commission=commission_pct, parent=parent_id),
    ).scalar_one()
    return insert_credentials(conn, "partner", partner_id)


def insert_credentials(conn, role: str, partner_id, client_id: str | None = None) -> Credentials:
    """New API credentials (a partner's `pk_…` client id unless given) inside the caller's transaction."""
    return _insert_credentials(conn, role, partner_id, client_id or f"pk_{secrets.token_hex(8)}", None)


DEMO_LOGINS = (  # (name, role, client id, the client id of the parent partner); staff: core.staff
    ("Demo Travel A", "partner", "demo-partner-a", None),
    ("Demo Travel B", "partner", "demo-partner-b", None),
    ("Demo Travel A Corporate", "partner", "demo-partner-a1", "demo-partner-a"),  # a sub-agent of A
)


def ensure_demo_credentials(engine: Engine, seed_secret: str) -> list[tuple[str, Credentials]]:
    """Three demo partners (one a sub-agent of the first), their client credentials stable across restarts.

    Their secrets derive from ENCRYPTION_SECRET so `hotelctl up` can print them every time
    without storing them in clear.
    """
    result = []
    partners: dict[str, uuid.UUID] = {}
    with engine.begin() as conn:
        for name, role, client_id, parent in DEMO_LOGINS:
            secret = hmac.new(seed_secret.encode(), client_id.encode(), hashlib.sha256).hexdigest()[:32]
            row = conn.execute(
                sa.text("SELECT partner_id FROM api_credentials WHERE client_id = :c"), {"c": client_id}
            ).first()
            if row:
                partners[client_id] = row.partner_id
                result.append((name, Credentials(client_id, secret, role, row.partner_id)))
                continue
            partner_id = conn.execute(
                sa.text("INSERT INTO partners (name, tier, credit_limit, credit_currency, parent_id)"
                        " VALUES (:n, 'standard', 500000, 'CNY', :parent) RETURNING id"),
                {"n": name, "parent": partners.get(parent)},
            ).scalar_one()
            partners[client_id] = partner_id
            result.append((name, _insert_credentials(conn, role, partner_id, client_id, secret)))
    return result


def _insert_credentials(conn, role: str, partner_id, client_id: str, secret: str | None) -> Credentials:
    secret = secret or secrets.token_urlsafe(32)
    conn.execute(
        sa.text("INSERT INTO api_credentials (client_id, secret_hash, role, partner_id)"
                " VALUES (:client_id, :hash, :role, :partner)"),
        dict(client_id=client_id, hash=hash_secret(secret, secrets.token_bytes(16)), role=role,
             partner=partner_id),
    )
    return Credentials(client_id, secret, role, partner_id)
