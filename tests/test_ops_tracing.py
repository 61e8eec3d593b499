"""Tracing: with tracing on, `traceparent` from an API request reaches an outgoing HTTP call through httpx's
instrumentation (off: nothing is propagated); an outbox row keeps its trace for later work; sampling keeps
traces whole; spans go over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is set (a real local HTTP server
stands in for the collector)."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from api.middleware import ObservabilityMiddleware
from core.logs import trace_id_var
from core.outbox import read_events, write_event_sync
from core.tracing import (
    BSP_EXPORT_BATCH,
    asgi_tracing,
    build_provider,
    build_sampler,
    continued,
    start_span,
    uninstrument_libraries,
    use_provider,
    w3c_trace_id,
)

pytest_plugins = ["tests.tracing_fixtures"]
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[13]$")


class Recorder:
    """An HTTP server on an ephemeral port that records every request (a supplier, or an OTLP collector)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict, bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                          body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


def _probe_app(recorder_url: str) -> FastAPI:
    app = FastAPI()

    @app.get("/probe")
    async def probe():
        async with httpx.AsyncClient() as client:
            with start_span("adapter.test.query", supplier="test"):
                await client.get(f"{recorder_url}/hotels")
        return {"ok": True}

    asgi_tracing(app, "api")
    app.add_middleware(ObservabilityMiddleware, service="api")
    return app


def test_traceparent_flows_from_api_request_to_supplier_call(recorder, exported):
    incoming_trace, incoming_parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with TestClient(_probe_app(recorder.url)) as client:
        response = client.get("/probe", headers={"traceparent": f"00-{incoming_trace}-{incoming_parent}-01"})
    assert response.status_code == 200
    api_trace, api_span = TRACEPARENT.match(response.headers["traceparent"]).groups()
    _, _, headers, _ = recorder.requests[0]
    supplier_trace, supplier_parent = TRACEPARENT.match(headers["traceparent"]).groups()  # httpx injected it
    assert supplier_trace == api_trace == incoming_trace  # one trace end to end
    spans = {format(s.context.span_id, "016x"): s for s in exported.get_finished_spans()}
    client_span = spans[supplier_parent]  # the supplier's parent is httpx's CLIENT span ...
    assert client_span.kind == SpanKind.CLIENT and client_span.name == "GET"
    adapter = spans[format(client_span.parent.span_id, "016x")]  # ... under our adapter span, under the request's
    assert adapter.name == "adapter.test.query" and format(adapter.parent.span_id, "016x") == api_span
    assert spans[api_span].name == "GET /probe" and spans[api_span].parent.span_id == int(incoming_parent, 16)


def test_tracing_off_sends_no_traceparent(recorder):
    with TestClient(_probe_app(recorder.url)) as client:
        response = client.get("/probe", headers={"X-Request-ID": "order-req-42"})
    assert response.headers["x-request-id"] == "order-req-42"  # the logs' trace id, still answered
    trace_id, _ = TRACEPARENT.match(response.headers["traceparent"]).groups()
    assert trace_id == w3c_trace_id("order-req-42")
    _, _, headers, _ = recorder.requests[0]
    assert "traceparent" not in headers  # nothing instrumented, nothing propagated


def test_an_outbox_row_keeps_the_trace_it_was_written_in(engine, exported):
    with start_span("order.create") as span, engine.begin() as conn:
        event_id = write_event_sync(conn, "order", "trace-test", "order.trace_test", {"n": 1})
    (event,) = [e for e in read_events(engine, after_id=event_id - 1, limit=1)]
    assert event.payload == {"n": 1}  # the trace context is not part of what consumers read
    trace_id, parent = TRACEPARENT.match(event.trace["traceparent"]).groups()
    assert (trace_id, parent) == (format(span.get_span_context().trace_id, "032x"),
                                  format(span.get_span_context().span_id, "016x"))
    with continued(event.trace), start_span("relay.publish") as child:
        pass
    assert child.parent.span_id == span.get_span_context().span_id  # later work continues that trace
    with engine.begin() as conn:
        untraced = write_event_sync(conn, "order", "trace-test", "order.trace_test", {"n": 2})  # no span open
    assert read_events(engine, after_id=untraced - 1, limit=1)[0].trace is None


def test_sampling_keeps_traces_whole_and_drops_lone_background_queries():
    from opentelemetry.sdk.trace.sampling import Decision

    keep_all, keep_none = build_sampler(1.0), build_sampler(0.0)
    assert keep_all.should_sample(None, 1, "GET /health", SpanKind.SERVER).decision == Decision.RECORD_AND_SAMPLE
    assert keep_all.should_sample(None, 1, "SELECT", SpanKind.CLIENT).decision == Decision.DROP  # a lone poll
    assert keep_none.should_sample(None, 1, "GET /health", SpanKind.SERVER).decision == Decision.DROP
    sampled_parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(
        1, 2, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))))
    assert keep_none.should_sample(sampled_parent, 1, "SELECT", SpanKind.CLIENT).decision == \
        Decision.RECORD_AND_SAMPLE  # part of a kept trace: kept, whatever the ratio


def test_spans_are_exported_over_otlp_only_when_the_endpoint_is_set(recorder, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recorder.url)
    provider = build_provider("hotel-test")
    token = trace_id_var.set("0af7651916cd43dd8448eb211c80319c")
    previous = use_provider(provider)
    try:
        with start_span("adapter.supplier-a.query", supplier="A"):
            pass
    finally:
        trace_id_var.reset(token)
        use_provider(previous)
        uninstrument_libraries()
    provider.force_flush()
    provider.shutdown()
    posts = [r for r in recorder.requests if r[0] == "POST"]
    assert [(path, headers["content-type"]) for _, path, headers, _ in posts] == [
        ("/v1/traces", "application/x-protobuf")]
    exported = ExportTraceServiceRequest.FromString(posts[0][3])
    spans = [span for rs in exported.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert [span.name for span in spans] == ["adapter.supplier-a.query"]
    assert spans[0].trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    service = {a.key: a.value.string_value for a in exported.resource_spans[0].resource.attributes}["service.name"]
    assert service == "hotel-test"

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    quiet = build_provider("hotel-test")
    previous = use_provider(quiet)
    try:
        with start_span("not.exported"):
            pass
    finally:
        use_provider(previous)
        uninstrument_libraries()
    quiet.force_flush()
    quiet.shutdown()
    assert len([r for r in recorder.requests if r[0] == "POST"]) == 1  # nothing more was sent


def _exported_batches(provider, spans: int, recorder: Recorder) -> list[int]:
    previous = use_provider(provider)
    try:
        for number in range(spans):
            with start_span("adapter.supplier-a.query", supplier="A", number=number):
                pass
    finally:
        use_provider(previous)
        uninstrument_libraries()
    provider.force_flush()
    provider.shutdown()
    posts = [ExportTraceServiceRequest.FromString(body) for method, _, _, body in recorder.requests if method == "POST"]
    recorder.requests.clear()
    return [sum(len(ss.spans) for rs in post.resource_spans for ss in rs.scope_spans) for post in posts]


def test_spans_leave_in_small_batches_unless_the_operator_sets_the_batch_size(recorder, monkeypatch):
    # Encoding a batch holds the GIL for its whole length: the SDK's 512 stalled a loaded API worker ~30 ms.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{recorder.url}/v1/traces")
    monkeypatch.delenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", raising=False)
    batches = _exported_batches(build_provider("hotel-test"), 150, recorder)
    assert sum(batches) == 150 and max(batches) <= BSP_EXPORT_BATCH and len(batches) >= 3

    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200")
    assert _exported_batches(build_provider("hotel-test"), 150, recorder) == [150]


def test_quote_searches_can_be_sampled_apart_while_every_order_is_traced(monkeypatch):
    monkeypatch.setenv("QUOTE_TRACE_RATIO", "0")
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    exporter = InMemorySpanExporter()
    provider = build_provider("api", processor=SimpleSpanProcessor(exporter))
    app = FastAPI()

    @app.post("/v1/quotes")
    async def quote():
        with start_span("quote.step"):  # under a dropped quote, nothing is kept either
            return {"quote": True}

    @app.post("/v1/orders")
    async def order():
        return {"order": True}

    caller = "4bf92f3577b34da6a3ce929d0e0e4736"
    previous = use_provider(provider)
    try:
        asgi_tracing(app, "api")
        app.add_middleware(ObservabilityMiddleware, service="api")
        with TestClient(app) as client:
            for index in range(20):
                response = client.post("/v1/quotes", json={}, headers={"X-Request-ID": f"quote-{index}"})
                assert response.status_code == 200
                trace_id, flags = response.headers["traceparent"].split("-")[1::2]
                assert (trace_id, flags) == (w3c_trace_id(f"quote-{index}"), "02")  # this trace, not sampled
            assert client.post("/v1/orders", json={}).status_code == 200
            # A caller that samples its trace has its quote traced whatever the ratio (parent-based).
            assert client.post("/v1/quotes", json={},
                               headers={"traceparent": f"00-{caller}-00f067aa0ba902b7-01"}).status_code == 200
    finally:
        use_provider(previous)
        uninstrument_libraries()
        provider.shutdown()
    spans = exporter.get_finished_spans()
    assert sorted(span.name for span in spans) == ["POST /v1/orders", "POST /v1/quotes", "quote.step"]
    assert {format(span.context.trace_id, "032x") for span in spans if "quote" in span.name} == {caller}

    monkeypatch.delenv("QUOTE_TRACE_RATIO")  # unset: quotes follow the general ratio
    from opentelemetry.sdk.trace.sampling import Decision

    assert build_sampler(1.0).should_sample(None, 1, "POST /v1/quotes", SpanKind.SERVER).decision == \
        Decision.RECORD_AND_SAMPLE
    assert build_sampler(0.0, 1.0).should_sample(None, 1, "POST /v1/quotes", SpanKind.SERVER).decision == \
        Decision.RECORD_AND_SAMPLE
    assert build_sampler(0.0, 1.0).should_sample(None, 1, "POST /v1/orders", SpanKind.SERVER).decision == \
        Decision.DROP
