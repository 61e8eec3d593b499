"""Distributed tracing: W3C `traceparent` propagation and OpenTelemetry spans.

The request's trace lives in `core.logs` contextvars (`trace_id_var`, `span_id_var`), which the API
middleware sets from the incoming `traceparent` / `X-Request-ID`. Outgoing calls (supplier adapters)
add `outgoing_headers()`, so the supplier sees the same trace id with our span as its parent:

    async with httpx.AsyncClient() as client:
        with start_span(f"adapter.{supplier}.query", supplier=supplier):
            response = await client.get(url, headers=outgoing_headers())

Spans are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; otherwise they are recorded nowhere and cost little.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from core.logs import new_span_id, span_id_var, trace_id_var

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_configured: TracerProvider | None = None


def w3c_trace_id(trace_id: str) -> str:
    """A valid 32-hex W3C trace id for any of our trace ids (an `X-Request-ID` may be any token)."""
    lowered = trace_id.lower()
    if _HEX32.match(lowered) and lowered != "0" * 32:
        return lowered
    return hashlib.sha256(trace_id.encode()).hexdigest()[:32]  # stable: the same request id, the same trace


def outgoing_headers(span_id: str | None = None) -> dict[str, str]:
    """Headers for a call leaving this process: `traceparent` (the current span as parent) and `X-Request-ID`.

    Outside any request a fresh trace is started, so every outgoing call is traceable.
    """
    trace_id = trace_id_var.get()
    if trace_id is None:
        from core.logs import new_trace_id

        trace_id = new_trace_id()
    parent = span_id or span_id_var.get()
    if not parent or not _HEX16.match(parent):
        parent = new_span_id()
    return {"traceparent": f"00-{w3c_trace_id(trace_id)}-{parent}-01", "X-Request-ID": trace_id}


def build_provider(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """A tracer provider for `service`: with `exporter`, or OTLP/HTTP when the endpoint is set, or none."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None and exporter_configured():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # reads the endpoint, headers and timeout from OTEL_* variables
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def exporter_configured() -> bool:
    return any(os.environ.get(name) for name in _ENDPOINT_VARS)


def setup_tracing(service: str) -> TracerProvider:
    """Install the process-wide tracer provider once (API, relay, Dagster code server)."""
    global _configured
    if _configured is None:
        _configured = build_provider(service)
        trace.set_tracer_provider(_configured)
    return _configured


def _parent_context():
    trace_id, span_id = trace_id_var.get(), span_id_var.get()
    if trace_id is None:
        return None
    parent = span_id if span_id and _HEX16.match(span_id) else new_span_id()
    remote = SpanContext(int(w3c_trace_id(trace_id), 16), int(parent, 16), is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(remote))


@contextmanager
def start_span(name: str, provider: TracerProvider | None = None, **attributes) -> Iterator[trace.Span]:
    """A child span of the current request; while open, logs and `outgoing_headers()` carry its span id."""
    tracer = (provider or trace.get_tracer_provider()).get_tracer("hotel-platform")
    with tracer.start_as_current_span(name, context=_parent_context(), attributes=attributes or None) as span:
        context = span.get_span_context()
        recording = span.is_recording()
        # Without an SDK provider (setup_tracing not called) the span is a no-op that echoes its parent:
        # still give this step its own span id for logs and outgoing calls.
        token = span_id_var.set(format(context.span_id, "016x") if recording else new_span_id())
        trace_token = None
        if recording and trace_id_var.get() is None:
            trace_token = trace_id_var.set(format(context.trace_id, "032x"))
        try:
            yield span
        finally:
            span_id_var.reset(token)
            if trace_token is not None:
                trace_id_var.reset(trace_token)
