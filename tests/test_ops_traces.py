"""Traces end to end, with the OpenTelemetry SDK's in-memory exporter as the receiving end: a quote and an
order each form one trace from the partner's `traceparent` through the API's request span, the route's span,
the supplier call's CLIENT span and the simulated supplier's SERVER span (which continues the trace); a
request named only by a non-hex X-Request-ID gets a valid W3C trace."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from core.tracing import build_provider, use_provider, w3c_trace_id
from tests.api_fixtures import auth, new_partner, order_body, seed_from_simulator

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


@pytest.fixture
def exported():
    exporter = InMemorySpanExporter()
    provider = build_provider("api", processor=SimpleSpanProcessor(exporter))
    previous = use_provider(provider)
    yield exporter
    use_provider(previous)
    provider.shutdown()


def _ids(span) -> tuple[str, str, str | None]:
    parent = format(span.parent.span_id, "016x") if span.parent else None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"), parent


def _one(spans, name: str):
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def test_a_quote_and_an_order_each_form_one_trace_through_the_supplier(api_client, engine, redis_url, supplier_a,
                                                                       exported):
    start = dt.date.today() + dt.timedelta(days=40)
    offers = seed_from_simulator(engine, redis_url, supplier_a, start=start, nights=2, hotels=2, allotment=20)
    headers = auth(api_client, new_partner(engine))

    quote_trace, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    exported.clear()
    quoted = api_client.post("/v1/quotes", headers={**headers, "traceparent": f"00-{quote_trace}-{caller}-01"},
                             json={"hotel_ids": [offers[0]["hotel_id"]], "check_in": start.isoformat(),
                                   "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1,
                                   "adults": 1})
    assert quoted.status_code == 200, quoted.text
    spans = exported.get_finished_spans()
    server, answer = _one(spans, "POST /v1/quotes"), _one(spans, "quote.answer")
    assert server.kind == SpanKind.SERVER and _ids(server)[0] == quote_trace and _ids(server)[2] == caller
    assert _ids(answer)[0] == quote_trace and _ids(answer)[2] == _ids(server)[1]
    assert TRACEPARENT.match(quoted.headers["traceparent"]).groups() == (quote_trace, _ids(server)[1])

    offer = next(o for o in quoted.json()["offers"] if o["room_type"] == offers[0]["room_name"])
    order_trace = "0af7651916cd43dd8448eb211c80319c"
    exported.clear()
    ordered = api_client.post("/v1/orders", json=order_body(offer["offer_id"]), headers={
        **headers, "Idempotency-Key": str(uuid.uuid4()), "traceparent": f"00-{order_trace}-{caller}-01"})
    assert ordered.status_code == 201, ordered.text
    spans = exported.get_finished_spans()
    by_id = {_ids(span)[1]: span for span in spans}
    server, create = _one(spans, "POST /v1/orders"), _one(spans, "order.create")
    assert {_ids(span)[0] for span in spans} == {order_trace}  # one trace, every span
    assert _ids(server)[2] == caller and _ids(create)[2] == _ids(server)[1]
    calls = [span for span in spans if span.kind == SpanKind.CLIENT and span.name.startswith("supplier.A ")]
    assert calls, [span.name for span in spans]
    for call in calls:  # each supplier call sits under order.create, its supplier's side under it
        ancestor = call
        while ancestor.parent and _ids(ancestor)[1] != _ids(create)[1]:
            ancestor = by_id[_ids(ancestor)[2]]
        assert ancestor is create
        supplier_side = [s for s in spans if s.kind == SpanKind.SERVER and _ids(s)[2] == _ids(call)[1]]
        assert [s.name.split(" ")[0] for s in supplier_side] == ["supplier-A"]
        assert call.attributes["http.response.status_code"] == supplier_side[0].attributes["http.response.status_code"]


def test_a_non_hex_request_id_gets_a_valid_trace(api_client, exported):
    response = api_client.get("/health", headers={"X-Request-ID": "order-req-42"})
    assert response.headers["x-request-id"] == "order-req-42"
    trace_id, span_id = TRACEPARENT.match(response.headers["traceparent"]).groups()
    assert trace_id == w3c_trace_id("order-req-42")
    span = _one(exported.get_finished_spans(), "GET /health")
    assert _ids(span) == (trace_id, span_id, None)  # a root span of that trace, no invented parent
