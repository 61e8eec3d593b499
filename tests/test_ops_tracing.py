"""Tracing: `traceparent` from an API request reaches an outgoing HTTP call; spans go over OTLP/HTTP only
when OTEL_EXPORTER_OTLP_ENDPOINT is set (a real local HTTP server stands in for the collector)."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from api.middleware import ObservabilityMiddleware
from core.logs import span_id_var, trace_id_var
from core.tracing import build_provider, outgoing_headers, start_span, w3c_trace_id

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


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


def test_traceparent_flows_from_api_request_to_supplier_call(recorder):
    app = FastAPI()

    @app.get("/probe")
    async def probe():
        async with httpx.AsyncClient() as client:
            with start_span("adapter.test.query", supplier="test"):
                await client.get(f"{recorder.url}/hotels", headers=outgoing_headers())
        return {"ok": True}

    app.add_middleware(ObservabilityMiddleware, service="api")
    incoming_trace, incoming_parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with TestClient(app) as client:
        response = client.get("/probe", headers={"traceparent": f"00-{incoming_trace}-{incoming_parent}-01"})
    assert response.status_code == 200
    api_trace, api_span = TRACEPARENT.match(response.headers["traceparent"]).groups()
    _, _, headers, _ = recorder.requests[0]
    supplier_trace, supplier_parent = TRACEPARENT.match(headers["traceparent"]).groups()
    assert supplier_trace == api_trace == incoming_trace  # one trace end to end
    assert supplier_parent not in (incoming_parent, api_span)  # the adapter's own span is the parent
    assert headers["x-request-id"] == incoming_trace


def test_outgoing_headers_for_any_request_id():
    token = trace_id_var.set("order-req-42")  # an X-Request-ID that is not hex
    span = span_id_var.set("b7ad6b7169203331")
    try:
        headers = outgoing_headers()
    finally:
        trace_id_var.reset(token)
        span_id_var.reset(span)
    trace_id, parent = TRACEPARENT.match(headers["traceparent"]).groups()
    assert trace_id == w3c_trace_id("order-req-42") and parent == "b7ad6b7169203331"
    assert headers["X-Request-ID"] == "order-req-42"
    fresh = [TRACEPARENT.match(outgoing_headers()["traceparent"]).group(1) for _ in range(2)]
    assert fresh[0] != fresh[1]  # outside a request every call starts its own trace


def test_spans_are_exported_over_otlp_only_when_the_endpoint_is_set(recorder, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recorder.url)
    provider = build_provider("hotel-test")
    token = trace_id_var.set("0af7651916cd43dd8448eb211c80319c")
    try:
        with start_span("adapter.supplier-a.query", provider=provider, supplier="A"):
            pass
    finally:
        trace_id_var.reset(token)
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
    with start_span("not.exported", provider=quiet):
        pass
    quiet.force_flush()
    quiet.shutdown()
    assert len([r for r in recorder.requests if r[0] == "POST"]) == 1  # nothing more was sent
