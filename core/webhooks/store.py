"""Webhook registrations and deliveries in PostgreSQL (SQLAlchemy for the API/CLI, asyncpg for the consumer)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.crypto import decrypt, encrypt
from core.outbox import write_event_sync

TEST_EVENT = "webhook.test"  # routing key partner.webhook.test (core/topology.py binds it for the consumer)
DELIVERY_COLUMNS = ("event_id", "partner_id", "event_type", "status", "attempts", "last_status", "last_error",
                    "updated_at", "delivered_at")
NO_BROKER = ("this platform runs no event broker (a development one, started without RABBITMQ_URL): events wait "
             "in its outbox and no webhook is sent until it has one")


def no_broker_notice(settings) -> str | None:
    """Why this platform sends no webhook (it has no broker), for the partner's answers and the console; None
    where a broker is configured."""
    return None if settings.rabbitmq_url else NO_BROKER


@dataclass(frozen=True)
class Endpoint:
    partner_id: uuid.UUID
    url: str
    secret: str


def register(engine: Engine, partner_id: uuid.UUID | str, url: str, encryption_secret: str) -> str:
    """Set the partner's webhook URL with a new signing secret; returns the secret (shown once)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO partner_webhooks (partner_id, url, secret_encrypted) VALUES (:p, :u, :s)"
            " ON CONFLICT (partner_id) DO UPDATE SET url = EXCLUDED.url,"
            " secret_encrypted = EXCLUDED.secret_encrypted, updated_at = now()"),
            {"p": str(partner_id), "u": url, "s": encrypt(secret, encryption_secret)})
    return secret


def registration(engine: Engine, partner_id: uuid.UUID | str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT url, created_at, updated_at FROM partner_webhooks WHERE partner_id = :p"),
                           {"p": str(partner_id)}).mappings().first()
    return dict(row) if row else None


def unregister(engine: Engine, partner_id: uuid.UUID | str) -> bool:
    with engine.begin() as conn:
        return conn.execute(sa.text("DELETE FROM partner_webhooks WHERE partner_id = :p"),
                            {"p": str(partner_id)}).rowcount > 0


def deliveries(engine: Engine, partner_id: uuid.UUID | str | None = None, status: str | None = None,
               limit: int = 100) -> list[dict]:
    """Newest first; every partner's when `partner_id` is None (operators)."""
    where, params = [], {"limit": limit}
    if partner_id is not None:
        where.append("partner_id = :p")
        params["p"] = str(partner_id)
    if status is not None:
        where.append("status = :s")
        params["s"] = status
    sql = (f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM webhook_deliveries"
           f" {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY updated_at DESC LIMIT :limit")
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.text(sql), params).mappings()]


def waiting(engine: Engine, partner_id: uuid.UUID | str) -> int:
    """The partner's events since it registered its webhook (its orders' and its test events) still in the outbox:
    not yet handed to the broker."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM outbox_events e JOIN partner_webhooks w ON w.partner_id = CAST(:p AS uuid)"
            " WHERE e.published_at IS NULL AND e.created_at >= w.created_at AND ((e.aggregate_type = 'order'"
            " AND e.aggregate_id IN (SELECT id::text FROM orders WHERE partner_id = CAST(:p AS uuid)))"
            " OR (e.aggregate_type = 'partner' AND e.aggregate_id = CAST(:p AS text)))"),
            {"p": str(partner_id)}).scalar_one()


# A partner receives the events that happened after it registered its webhook, whether or not a broker ran then
# (without one they wait in the outbox, and would otherwise all be POSTed, however old, once one runs). An event
# whose outbox row is gone (an operator's replay of an old one) is sent.
_SINCE_REGISTERED = "w.created_at <= coalesce((SELECT created_at FROM outbox_events WHERE id = $2), w.created_at)"


async def endpoint_for_order(pool, order_id: str, event_id: int, keys: list[str]) -> Endpoint | None:
    row = await pool.fetchrow(
        "SELECT w.partner_id, w.url, w.secret_encrypted FROM orders o"
        f" JOIN partner_webhooks w ON w.partner_id = o.partner_id WHERE o.id = $1::uuid AND {_SINCE_REGISTERED}",
        order_id, event_id)
    return _endpoint(row, keys)


async def endpoint_for_partner(pool, partner_id: str, event_id: int, keys: list[str]) -> Endpoint | None:
    row = await pool.fetchrow("SELECT w.partner_id, w.url, w.secret_encrypted FROM partner_webhooks w"
                              f" WHERE w.partner_id = $1::uuid AND {_SINCE_REGISTERED}", partner_id, event_id)
    return _endpoint(row, keys)


def _endpoint(row, keys: list[str]) -> Endpoint | None:
    return Endpoint(row["partner_id"], row["url"], decrypt(row["secret_encrypted"], keys)) if row else None


def request_test_event(engine: Engine, partner_id: uuid.UUID | str) -> int | None:
    """Queue a `webhook.test` event for the partner's registered URL (delivered, signed and recorded as an order
    event is); its outbox id, or None when the partner has no webhook."""
    with engine.begin() as conn:
        url = conn.execute(sa.text("SELECT url FROM partner_webhooks WHERE partner_id = :p"),
                           {"p": str(partner_id)}).scalar()
        if url is None:
            return None
        return write_event_sync(conn, "partner", str(partner_id), TEST_EVENT,
                                {"message": "a test event: your endpoint received and can verify it",
                                 "url": url})


async def delivered(pool, event_id: int, partner_id: uuid.UUID) -> bool:
    return await pool.fetchval("SELECT status = 'delivered' FROM webhook_deliveries"
                               " WHERE event_id = $1 AND partner_id = $2", event_id, partner_id) or False


async def record(pool, event_id: int, partner_id: uuid.UUID, event_type: str, status: str,
                 last_status: int | None = None, last_error: str | None = None) -> None:
    await pool.execute(
        "INSERT INTO webhook_deliveries (event_id, partner_id, event_type, status, attempts, last_status,"
        " last_error, delivered_at) VALUES ($1, $2, $3, $4, 1, $5, $6,"
        " CASE WHEN $4 = 'delivered' THEN now() END)"
        " ON CONFLICT (event_id, partner_id) DO UPDATE SET status = EXCLUDED.status,"
        " attempts = webhook_deliveries.attempts + 1, last_status = EXCLUDED.last_status,"
        " last_error = EXCLUDED.last_error, updated_at = now(), delivered_at = EXCLUDED.delivered_at",
        event_id, partner_id, event_type, status, last_status, last_error)
