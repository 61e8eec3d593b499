"""Distributed tracing: W3C `traceparent` propagation and OpenTelemetry spans.

The request's trace lives in `core.logs` contextvars (`trace_id_var`, `span_id_var`), which the API
middleware sets from the incoming `traceparent` / `X-Request-ID`. Outgoing calls (supplier adapters)
add `outgoing_headers()`, so the supplier sees the same trace id with our span as its parent:

    async with httpx.AsyncClient() as client:
        with start_span(f"adapter.{supplier}.query", supplier=supplier):
            response = await client.get(url, headers=outgoing_headers())

Spans are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; otherwise they are recorded nowhere and cost little.

Where spans open: every API request (`api.middleware`, a SERVER span), `quote.answer` and `order.create` in
the routes, every supplier HTTP attempt (`core.suppliers.http`, a CLIENT span whose id the supplier receives
as `traceparent`'s parent), and the simulated suppliers' side of it (`TraceContinuation`).
A request that names its trace only by a non-hex `X-Request-ID` gets the stable hex trace id
`w3c_trace_id(request_id)`: its root span carries it (`RequestTraceIds`), so logs and spans agree.
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
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from core.logs import new_span_id, new_trace_id, span_id_var, trace_id_var

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
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


def trace_from_headers(headers: dict[bytes, bytes]) -> tuple[str, str | None]:
    """traceId from W3C `traceparent`, else `X-Request-ID`, else a new one; plus the parent span."""
    traceparent = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
    match = _TRACEPARENT.match(traceparent)
    if match and match.group(1) != "0" * 32:
        return match.group(1), match.group(2)
    request_id = headers.get(b"x-request-id", b"").decode("latin-1").strip()
    if _REQUEST_ID.match(request_id):
        return request_id, None
    return new_trace_id(), None


def outgoing_headers(span_id: str | None = None) -> dict[str, str]:
    """Headers for a call leaving this process: `traceparent` (the current span as parent) and `X-Request-ID`.

    Outside any request a fresh trace is started, so every outgoing call is traceable.
    """
    trace_id = trace_id_var.get()
    if trace_id is None:
        trace_id = new_trace_id()
    parent = span_id or span_id_var.get()
    if not parent or not _HEX16.match(parent):
        parent = new_span_id()
    return {"traceparent": f"00-{w3c_trace_id(trace_id)}-{parent}-01", "X-Request-ID": trace_id}


def traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{w3c_trace_id(trace_id)}-{span_id}-01"


class RequestTraceIds(RandomIdGenerator):
    """A root span takes the current request's trace id (an `X-Request-ID`, made W3C-valid) when there is one."""

    def generate_trace_id(self) -> int:
        trace_id = trace_id_var.get()
        return int(w3c_trace_id(trace_id), 16) if trace_id else super().generate_trace_id()


def build_provider(service: str, exporter: SpanExporter | None = None,
                   processor: SpanProcessor | None = None) -> TracerProvider:
    """A tracer provider for `service`: with `exporter` (or a ready `processor`), or OTLP/HTTP when the endpoint
    is set, or none."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}), id_generator=RequestTraceIds())
    if exporter is None and processor is None and exporter_configured():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # reads the endpoint, headers and timeout from OTEL_* variables
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def exporter_configured() -> bool:
    return any(os.environ.get(name) for name in _ENDPOINT_VARS)


def setup_tracing(service: str) -> TracerProvider | None:
    """Install the process-wide tracer provider once (API, relay, webhooks, Dagster code server, simulators),
    only when an OTLP endpoint is configured: without one, spans would go nowhere, so `start_span` keeps to
    its cheap path (request and span ids for logs and `traceparent`, no span objects)."""
    global _configured
    if _configured is None and exporter_configured():
        _configured = build_provider(service)
        trace.set_tracer_provider(_configured)
    return _configured


def use_provider(provider: TracerProvider | None) -> TracerProvider | None:
    """Make `provider` the one `start_span` uses (None: back to the global one); returns the previous one."""
    global _configured
    previous, _configured = _configured, provider
    return previous


def _parent_context():
    """The request's span as a remote parent; None (a root span, RequestTraceIds names its trace) without one."""
    trace_id, span_id = trace_id_var.get(), span_id_var.get()
    if trace_id is None or not span_id or not _HEX16.match(span_id):
        return None
    remote = SpanContext(int(w3c_trace_id(trace_id), 16), int(span_id, 16), is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(remote))


@contextmanager
def start_span(name: str, provider: TracerProvider | None = None, kind: SpanKind = SpanKind.INTERNAL,
               **attributes) -> Iterator[trace.Span]:
    """A child span of the current request; while open, logs and `outgoing_headers()` carry its span id."""
    active = provider or _configured
    if active is None:  # tracing off: no span object, but this step still gets its own span id
        token = span_id_var.set(new_span_id())
        try:
            yield trace.INVALID_SPAN
        finally:
            span_id_var.reset(token)
        return
    with _tracer(active).start_as_current_span(name, context=_parent_context(), kind=kind,
                                               attributes=attributes or None) as span:
        context = span.get_span_context()
        token = span_id_var.set(format(context.span_id, "016x"))
        trace_token = trace_id_var.set(format(context.trace_id, "032x")) if trace_id_var.get() is None else None
        try:
            yield span
        finally:
            span_id_var.reset(token)
            if trace_token is not None:
                trace_id_var.reset(trace_token)


_tracers: dict[int, trace.Tracer] = {}


def _tracer(provider: TracerProvider) -> trace.Tracer:
    """One tracer per provider (getting one builds a new object each time)."""
    tracer = _tracers.get(id(provider))
    if tracer is None:
        tracer = _tracers[id(provider)] = provider.get_tracer("hotel-platform")
    return tracer


def mark_error(span: trace.Span, status: int) -> None:
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))


class TraceContinuation:
    """Pure-ASGI middleware for a service called by ours (the supplier simulators): a SERVER span continuing
    the caller's `traceparent`, so the supplier's side shows in the same trace."""

    def __init__(self, app, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        trace_id, parent = trace_from_headers(dict(scope["headers"]))
        trace_token, span_token = trace_id_var.set(trace_id), span_id_var.set(parent)
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with start_span(f"{self.service} {scope['method']} {scope['path']}", kind=SpanKind.SERVER,
                            **{"http.request.method": scope["method"], "url.path": scope["path"]}) as span:
                await self.app(scope, receive, send_status)
                span.set_attribute("http.response.status_code", status)
                mark_error(span, status)
        finally:
            trace_id_var.reset(trace_token)
            span_id_var.reset(span_token)
