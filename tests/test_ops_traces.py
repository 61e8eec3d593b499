"""Traces end to end, with OpenTelemetry's instrumentation libraries and the SDK's in-memory exporter as the
receiving end, against the real PostgreSQL, Redis, RabbitMQ and the simulated supplier over HTTP:
- a quote is one trace: the partner's `traceparent` → the API's SERVER span (naming the partner), with the
  Redis commands and PostgreSQL queries it made inside it;
- an order is one trace: SERVER span → `order.create` → PostgreSQL, the supplier call (our span, httpx's
  CLIENT span, the simulator's SERVER span continuing it), and — published later by the outbox relay from the
  trace stored with the outbox row — the relay's PRODUCER span and the consumer's CONSUMER span with the
  consumer's own PostgreSQL query under it;
- a request named only by a non-hex X-Request-ID gets a valid W3C trace."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from core.consumer import EventConsumer
from core.relay import Relay
from core.tracing import w3c_trace_id
from core.webhooks.delivery import WebhookDelivery
from tests.api_fixtures import auth, new_partner, order_body, seed_from_simulator
from tests.test_ops_events import delete_topology
from tests.test_ops_relay import RABBITMQ_URL, needs_broker

pytest_plugins = ["tests.tracing_fixtures"]
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[13]$")  # sampled, maybe also "random" (W3C level 2)
CALLER = "00f067aa0ba902b7"


@pytest.fixture
def traced_client(exported, settings, migrated):
    """The real app built while tracing is on (OpenTelemetry's ASGI middleware in its stack)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings, migrated), raise_server_exceptions=False) as client:
        yield client


def _ids(span) -> tuple[str, str, str | None]:
    parent = format(span.parent.span_id, "016x") if span.parent else None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"), parent


def _one(spans, name: str):
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def _scope(span) -> str:
    return span.instrumentation_scope.name


def _descends(span, ancestor, by_id: dict) -> bool:
    while span is not None:
        if span is ancestor:
            return True
        span = by_id.get(_ids(span)[2])
    return False


def _tree(spans, trace_id: str) -> tuple[list, dict]:
    ours = [span for span in spans if _ids(span)[0] == trace_id]
    return ours, {_ids(span)[1]: span for span in ours}


async def _until(predicate, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.05)


@needs_broker
async def test_a_quote_and_an_order_each_form_one_trace_across_every_service(
        traced_client, engine, redis_url, supplier_a, exported, migrated, settings):
    client = traced_client
    start = dt.date.today() + dt.timedelta(days=40)
    offers = seed_from_simulator(engine, redis_url, supplier_a, start=start, nights=2, hotels=2, allotment=20)
    partner = new_partner(engine)
    headers = auth(client, partner)

    # --- a quote: API, Redis, PostgreSQL in one trace ------------------------------------------------------
    quote_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    exported.clear()
    quoted = client.post("/v1/quotes", headers={**headers, "traceparent": f"00-{quote_trace}-{CALLER}-01"},
                         json={"hotel_ids": [offers[0]["hotel_id"]], "check_in": start.isoformat(),
                               "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1})
    assert quoted.status_code == 200, quoted.text
    spans, by_id = _tree(exported.get_finished_spans(), quote_trace)
    server = _one(spans, "POST /v1/quotes")
    assert server.kind == SpanKind.SERVER and _ids(server)[2] == CALLER  # continues the partner's trace
    assert _scope(server) == "opentelemetry.instrumentation.asgi"
    assert server.attributes["partner"] == str(partner.partner_id)  # the business attribute rides on it
    assert TRACEPARENT.match(quoted.headers["traceparent"]).groups() == (quote_trace, _ids(server)[1])
    redis_spans = [s for s in spans if _scope(s) == "opentelemetry.instrumentation.redis"]
    pg_spans = [s for s in spans if s.attributes.get("db.system.name") == "postgresql"]
    assert redis_spans and pg_spans, sorted(s.name for s in spans)
    assert all(s.kind == SpanKind.CLIENT and _descends(s, server, by_id) for s in redis_spans + pg_spans)

    # --- an order: API, PostgreSQL, the supplier (continuing the trace), the outbox consumer ----------------
    offer = next(o for o in quoted.json()["offers"] if o["room_type"] == offers[0]["room_name"])
    order_trace = "0af7651916cd43dd8448eb211c80319c"
    exported.clear()
    ordered = client.post("/v1/orders", json=order_body(offer["offer_id"]), headers={
        **headers, "Idempotency-Key": str(uuid.uuid4()), "traceparent": f"00-{order_trace}-{CALLER}-01"})
    assert ordered.status_code == 201, ordered.text
    order_id = ordered.json()["order_id"]

    exchange, consumer_name = f"hotel.events.test.{secrets.token_hex(4)}", "traces"
    handler = WebhookDelivery(migrated.database_url, settings)  # the partner has no webhook: it looks, then acks
    seen: dict[str, trace.SpanContext] = {}

    async def consume(event):
        await handler(event)
        if event.aggregate_id == order_id:
            seen[event.event_type] = trace.get_current_span().get_span_context()

    relay = Relay(migrated.database_url, RABBITMQ_URL, exchange=exchange, consumers={consumer_name: ("order.#",)})
    consumer = EventConsumer(RABBITMQ_URL, consumer_name, consume, exchange=exchange, routing_keys=("order.#",))
    stop = asyncio.Event()
    try:
        while await relay.run_once():
            pass
        task = asyncio.create_task(consumer.run(stop))
        try:
            await _until(lambda: "order.confirmed" in seen, 30, "the order's events consumed")
        finally:
            stop.set()
            await task
    finally:
        await relay.close()
        await handler.close()
        await delete_topology(exchange, consumer_name)

    spans, by_id = _tree(exported.get_finished_spans(), order_trace)
    server, create = _one(spans, "POST /v1/orders"), _one(spans, "order.create")
    assert _ids(server)[2] == CALLER and _ids(create)[2] == _ids(server)[1]
    assert all(_descends(s, server, by_id) for s in spans)  # one tree under the API's request span
    assert [s for s in spans if s.attributes.get("db.system.name") == "postgresql" and _descends(s, create, by_id)]
    calls = [s for s in spans if s.name.startswith("supplier.A ")]
    assert calls and all(_descends(call, create, by_id) for call in calls)
    for call in calls:  # under each supplier operation: httpx's CLIENT span, the simulator's SERVER span under it
        (http,) = [s for s in spans if _ids(s)[2] == _ids(call)[1]]
        assert http.kind == SpanKind.CLIENT and _scope(http) == "opentelemetry.instrumentation.httpx"
        (supplier_side,) = [s for s in spans if _ids(s)[2] == _ids(http)[1]]
        assert supplier_side.kind == SpanKind.SERVER and supplier_side.name.startswith("supplier-A ")
    published = [s for s in spans if s.kind == SpanKind.PRODUCER]
    consumed = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert {s.attributes["messaging.rabbitmq.destination.routing_key"] for s in published} >= {
        "order.order.pending", "order.order.confirmed"}
    assert all(_descends(s, create, by_id) for s in published)  # the trace stored with the outbox row
    confirmed = seen["order.confirmed"]
    assert format(confirmed.trace_id, "032x") == order_trace  # the consumer worked inside the order's trace
    (consumer_span,) = [s for s in consumed if s.context.span_id == confirmed.span_id]
    assert by_id[_ids(consumer_span)[2]].kind == SpanKind.PRODUCER
    assert [s for s in spans if _ids(s)[2] == _ids(consumer_span)[1] and
            s.attributes.get("db.system.name") == "postgresql"]  # the consumer's own query, in the same trace


def test_a_non_hex_request_id_gets_a_valid_trace(traced_client, exported):
    response = traced_client.post("/v1/auth/token", json={}, headers={"X-Request-ID": "order-req-42"})
    assert response.headers["x-request-id"] == "order-req-42"
    trace_id, span_id = TRACEPARENT.match(response.headers["traceparent"]).groups()
    assert trace_id == w3c_trace_id("order-req-42")
    span = _one([s for s in exported.get_finished_spans() if s.kind == SpanKind.SERVER], "POST /v1/auth/token")
    assert _ids(span) == (trace_id, span_id, None)  # a root span of that trace, no invented parent


def test_probes_and_scrapes_make_no_spans(traced_client, exported):
    exported.clear()
    assert traced_client.get("/health").status_code == 200
    traced_client.get("/metrics")
    assert [s.name for s in exported.get_finished_spans() if s.kind == SpanKind.SERVER] == []
    assert traced_client.post("/v1/auth/token", json={}).status_code == 422  # anything else is still traced
    assert [s.name for s in exported.get_finished_spans() if s.kind == SpanKind.SERVER] == ["POST /v1/auth/token"]
