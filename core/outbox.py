"""The transactional outbox (`outbox_events`): domain events written in the same transaction as the
change they describe, published later by the relay (`core/relay.py`).

Without RabbitMQ nothing is lost: rows stay unpublished (`published_at IS NULL`) and are readable
here by any consumer (e.g. the Dagster sensor in `assets/events.py`) by id cursor.

An event written while a trace is recorded keeps that trace's context (W3C `traceparent`) under the payload's
`_trace` key; reading a row takes it out again (`OutboxEvent.trace`), so the relay publishes the event as part
of the trace that wrote it and no consumer sees it in the payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.tracing import current_carrier

TRACE_KEY = "_trace"
_INSERT = ("INSERT INTO outbox_events (aggregate_type, aggregate_id, event_type, payload)"
           " VALUES ($1, $2, $3, $4::jsonb) RETURNING id")


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    published_at: datetime | None = None
    trace: dict[str, str] | None = None  # the writing trace's W3C headers, when it was traced

    @property
    def routing_key(self) -> str:
        """`<aggregate_type>.<event_type>`, e.g. `order.order.confirmed`: bind `order.#` for every order event."""
        return f"{self.aggregate_type}.{self.event_type}"


def _payload(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def event_from_row(row: Any) -> OutboxEvent:
    get = row.__getitem__
    payload = _payload(get("payload"))
    trace = payload.pop(TRACE_KEY, None)
    return OutboxEvent(get("id"), get("aggregate_type"), get("aggregate_id"), get("event_type"),
                       payload, get("created_at"), get("published_at"), trace if isinstance(trace, dict) else None)


def _stored(payload: dict[str, Any]) -> str:
    """The payload as stored: with the current trace's context when one is recorded."""
    carrier = current_carrier()
    return json.dumps({**payload, TRACE_KEY: carrier} if carrier else payload, default=str)


async def write_event(conn, aggregate_type: str, aggregate_id: str, event_type: str,
                      payload: dict[str, Any]) -> int:
    """Append an event inside the caller's asyncpg transaction; returns its id (the global order)."""
    return await conn.fetchval(_INSERT, aggregate_type, str(aggregate_id), event_type, _stored(payload))


def write_event_sync(conn: Connection, aggregate_type: str, aggregate_id: str, event_type: str,
                     payload: dict[str, Any]) -> int:
    """The same for a SQLAlchemy connection (pipelines, CLI), inside the caller's transaction."""
    return conn.execute(sa.text(
        "INSERT INTO outbox_events (aggregate_type, aggregate_id, event_type, payload)"
        " VALUES (:t, :a, :e, CAST(:p AS jsonb)) RETURNING id"),
        {"t": aggregate_type, "a": str(aggregate_id), "e": event_type, "p": _stored(payload)},
    ).scalar_one()


def read_events(engine: Engine, after_id: int = 0, limit: int = 1000, aggregate_type: str | None = None,
                unpublished_only: bool = False) -> list[OutboxEvent]:
    """Events with id > after_id in id order (a cursor for consumers that read the table directly)."""
    query = ("SELECT id, aggregate_type, aggregate_id, event_type, payload, created_at, published_at"
             " FROM outbox_events WHERE id > :after")
    params: dict[str, Any] = {"after": after_id, "limit": limit}
    if aggregate_type is not None:
        query += " AND aggregate_type = :type"
        params["type"] = aggregate_type
    if unpublished_only:
        query += " AND published_at IS NULL"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(query + " ORDER BY id LIMIT :limit"), params).mappings().fetchall()
    return [event_from_row(row) for row in rows]


def backlog(engine: Engine) -> int:
    """How many events wait for the relay."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")).scalar_one()
