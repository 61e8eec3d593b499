"""Distributed tracing with OpenTelemetry's instrumentation libraries.

When tracing is on (an OTLP endpoint configured: `OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), a process instruments, once:
- its ASGI app (`asgi_tracing`: opentelemetry-instrumentation-asgi, a SERVER span per request that continues
  the caller's `traceparent`; the API and the supplier simulators);
- httpx (opentelemetry-instrumentation-httpx: a CLIENT span per request, `traceparent` injected, so a supplier
  continues our trace), redis (opentelemetry-instrumentation-redis), asyncpg (`core.tracing.pg`) and aio-pika
  (`core.tracing.amqp`: PRODUCER spans inject `traceparent` into message headers, CONSUMER spans continue it).
`start_span` adds the spans that carry business meaning (`order.create`, a supplier operation) as children of
whatever is current; a quote's business attributes ride on its SERVER span (`annotate_server_span`), whose
extent a child span would only repeat. An order's outbox rows keep the trace they were written in
(`current_carrier`, stored by `core.outbox`), so the relay publishes each event as a child of its order's
trace (`continued`) and a consumer's work lands in the same trace, however much later it runs.

Sampling: parent-based, so a trace is kept or dropped whole; a new trace is kept with probability
`OTEL_TRACES_SAMPLER_ARG` (default 1.0), a quote search with probability `QUOTE_TRACE_RATIO` when that is set,
except a CLIENT span that starts a trace of its own (a background poll of PostgreSQL or Redis: the relay's claim
query, the inventory replica's stream reads), which is dropped. A request that starts a trace the sampler drops
does not go through the ASGI middleware at all (`_UnsampledBypass`): a dropped quote costs next to nothing.

Tracing off (no endpoint) instruments nothing and `start_span` makes no span object: the API middleware
still gives every request a trace id and span id for its logs and its `traceparent` response header.
A request that names its trace only by a non-hex `X-Request-ID` gets the stable hex trace id
`w3c_trace_id(request_id)`: its root span carries it (`RequestTraceIds`), so logs and spans agree.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.logs import new_span_id, new_trace_id, span_id_var, trace_id_var

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
QUOTE_SEARCH = "POST /v1/quotes"  # a quote search's SERVER span as the ASGI middleware opens it
SPAN_SCOPE_KEY = "hotel.server_span"  # the ASGI scope entry holding the request's SERVER span
_UNTRACED_PATHS = "/health$,/metrics$"  # regexes searched in the request URL (no query string)
BSP_EXPORT_BATCH, BSP_SCHEDULE_DELAY_MS = 64, 500
_active: TracerProvider | None = None
_instrumented = False


def w3c_trace_id(trace_id: str) -> str:
    """A valid 32-hex W3C trace id for any of our trace ids (an `X-Request-ID` may be any token)."""
    lowered = trace_id.lower()
    if _HEX32.match(lowered) and lowered != "0" * 32:
        return lowered
    return hashlib.sha256(trace_id.encode()).hexdigest()[:32]  # stable: the same request id, the same trace


def trace_from_headers(headers: dict[bytes, bytes]) -> tuple[str, str | None]:
    """The request's trace id for logs: W3C `traceparent`'s, else `X-Request-ID`, else a new one; plus the
    caller's span id."""
    traceparent = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
    match = _TRACEPARENT.match(traceparent)
    if match and match.group(1) != "0" * 32:
        return match.group(1), match.group(2)
    request_id = headers.get(b"x-request-id", b"").decode("latin-1").strip()
    if _REQUEST_ID.match(request_id):
        return request_id, None
    return new_trace_id(), None


def traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{w3c_trace_id(trace_id)}-{span_id}-01"


class RequestTraceIds(RandomIdGenerator):
    """A root span takes the current request's trace id (an `X-Request-ID`, made W3C-valid) when there is one."""

    def generate_trace_id(self) -> int:
        trace_id = trace_id_var.get()
        return int(w3c_trace_id(trace_id), 16) if trace_id else super().generate_trace_id()


class _NoLonelyClients(Sampler):
    """Root sampler: a CLIENT span opening a trace of its own is a background poll, not an operation: dropped.
    A quote search's SERVER span is kept by the quotes' ratio; any other root span by the general one."""

    def __init__(self, ratio: float, quote_ratio: float | None = None) -> None:
        self._ratio = TraceIdRatioBased(ratio)
        self._quotes = self._ratio if quote_ratio is None else TraceIdRatioBased(quote_ratio)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        ratio = self._quotes if kind == SpanKind.SERVER and name == QUOTE_SEARCH else self._ratio
        return ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        quotes = "" if self._quotes is self._ratio else f",quotes:{self._quotes.get_description()}"
        return f"NoLonelyClients{{{self._ratio.get_description()}{quotes}}}"


def _ratio_from(name: str, default: float | None) -> float | None:
    """A share in [0, 1] from the environment variable `name` (unset or invalid: `default`)."""
    try:
        ratio = float(os.environ[name])
    except (KeyError, ValueError):
        return default
    return min(max(ratio, 0.0), 1.0)


def sampler_ratio() -> float:
    """`OTEL_TRACES_SAMPLER_ARG` as the share of new traces kept (invalid or unset: 1.0)."""
    return _ratio_from("OTEL_TRACES_SAMPLER_ARG", 1.0)


def build_sampler(ratio: float | None = None, quote_ratio: float | None = None) -> Sampler:
    """Parent-based: `ratio` (default `OTEL_TRACES_SAMPLER_ARG`) of new traces; of quote searches, `quote_ratio`
    (default `QUOTE_TRACE_RATIO`, unset: the same as the others). A kept quote trace costs its worker ~0.3-0.4 ms
    of CPU: this keeps every order's trace and a share of the quotes'."""
    return ParentBased(root=_NoLonelyClients(sampler_ratio() if ratio is None else ratio,
                                             _ratio_from("QUOTE_TRACE_RATIO", None) if quote_ratio is None
                                             else quote_ratio))


def build_provider(service: str, exporter: SpanExporter | None = None,
                   processor: SpanProcessor | None = None, ratio: float | None = None) -> TracerProvider:
    """A tracer provider for `service`: with `exporter` (or a ready `processor`), or OTLP/HTTP when the endpoint
    is set, or none."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}), id_generator=RequestTraceIds(),
                              sampler=build_sampler(ratio))
    if exporter is None and processor is None and exporter_configured():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # reads the endpoint, headers and timeout from OTEL_* variables
    if exporter is not None:
        provider.add_span_processor(batch_processor(exporter))
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def batch_processor(exporter: SpanExporter) -> BatchSpanProcessor:
    """Small batches, often: encoding a span for OTLP is pure Python (~50 us) and holds the GIL, so the SDK's
    default (512 spans every 5 s) can stall the event loop ~30 ms at a time under load. 64 spans every 0.5 s
    cost the same CPU in ~3 ms slices. `OTEL_BSP_*` variables still take precedence."""
    return BatchSpanProcessor(
        exporter,
        schedule_delay_millis=None if os.environ.get("OTEL_BSP_SCHEDULE_DELAY") else BSP_SCHEDULE_DELAY_MS,
        max_export_batch_size=None if os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else BSP_EXPORT_BATCH)


def exporter_configured() -> bool:
    return any(os.environ.get(name) for name in _ENDPOINT_VARS)


# ------------------------------------------------------------------ the one provider the libraries are given


class _SwitchTracer(trace.Tracer):
    """A tracer of whichever provider is active at the time of the call (none: OpenTelemetry's no-op tracer).
    Instrumentations take their tracer once; this lets a process (a test) switch providers afterwards."""

    def __init__(self, *args) -> None:
        self._args = args
        self._provider: TracerProvider | None = None
        self._tracer: trace.Tracer = trace.NoOpTracer()

    def _current(self) -> trace.Tracer:
        if self._provider is not _active:
            self._provider = _active
            self._tracer = _active.get_tracer(*self._args) if _active is not None else trace.NoOpTracer()
        return self._tracer

    def start_span(self, *args, **kwargs) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args, **kwargs):
        return self._current().start_as_current_span(*args, **kwargs)


class _SwitchProvider(trace.TracerProvider):
    def get_tracer(self, instrumenting_module_name, instrumenting_library_version=None, schema_url=None,
                   attributes=None) -> trace.Tracer:
        return _SwitchTracer(instrumenting_module_name, instrumenting_library_version, schema_url, attributes)


PROVIDER = _SwitchProvider()
_TRACER = PROVIDER.get_tracer("hotel-platform")


def active() -> bool:
    return _active is not None


def setup_tracing(service: str) -> TracerProvider | None:
    """Once per process (API worker, relay, webhooks, simulators): when an OTLP endpoint is configured, export
    this service's spans there and instrument the libraries. Without one nothing is instrumented."""
    if _active is None and exporter_configured():
        use_provider(build_provider(service))
    return _active


def use_provider(provider: TracerProvider | None) -> TracerProvider | None:
    """Make `provider` the one every span goes to (None: tracing off); returns the previous one."""
    global _active
    previous, _active = _active, provider
    if provider is not None:
        # W3C trace context only: nothing here reads or sets baggage, and the default composite propagator
        # would scan every request's and message's headers for it too.
        propagate.set_global_textmap(TraceContextTextMapPropagator())
        instrument_libraries()
    return previous


def _instrumentors() -> list:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    from core.tracing.amqp import AioPikaInstrumentor
    from core.tracing.pg import AsyncpgInstrumentor

    return [HTTPXClientInstrumentor(), RedisInstrumentor(), AsyncpgInstrumentor(), AioPikaInstrumentor()]


def instrument_libraries() -> None:
    """httpx, redis, asyncpg and aio-pika, once per process, all on `PROVIDER`."""
    global _instrumented
    if not _instrumented:
        for instrumentor in _instrumentors():
            instrumentor.instrument(tracer_provider=PROVIDER)
        _instrumented = True


def uninstrument_libraries() -> None:
    """Undo `instrument_libraries` (tests that traced leave the next ones as they found them)."""
    global _instrumented
    if _instrumented:
        for instrumentor in _instrumentors():  # each instrumentor is a singleton: these are the ones instrumented
            instrumentor.uninstrument()
        _instrumented = False


def asgi_tracing(app, service: str, span_prefix: str = "", always: bool = False) -> bool:
    """When tracing is on (or `always`: a simulator built before a test turns tracing on), add OpenTelemetry's
    ASGI middleware to the Starlette/FastAPI `app` (innermost of the middlewares added so far): a SERVER span
    per request continuing the caller's `traceparent`, named `<METHOD> <route>` once routed
    (`name_server_span`). Returns whether it did."""
    if setup_tracing(service) is None and not always:
        return False
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    def span_details(scope) -> tuple[str, dict]:
        return f"{span_prefix}{scope.get('method', 'HTTP')} {scope.get('path', '')}".strip(), {}

    def remember(span: trace.Span, scope) -> None:
        scope[SPAN_SCOPE_KEY] = span
        if span.get_span_context().is_valid:
            span_id_var.set(format(span.get_span_context().span_id, "016x"))  # the request's logs name this span

    # No spans for probes and scrapes; no OpenTelemetry metrics (the API has its Prometheus ones): a no-op meter
    # rather than the proxy instruments the middleware would otherwise record into on every request.
    app.add_middleware(_UnsampledBypass, span_details=span_details, middleware=OpenTelemetryMiddleware,
                       tracer_provider=PROVIDER, meter_provider=NoOpMeterProvider(), excluded_urls=_UNTRACED_PATHS,
                       exclude_spans=["receive", "send"], default_span_details=span_details,
                       server_request_hook=remember)
    return True


class _UnsampledBypass:
    """OpenTelemetry's ASGI middleware (`middleware`), except for a request that starts a trace the sampler
    drops: that one goes straight to the app. The middleware reads every header and builds a span's attributes
    before its sampler is asked, ~0.1 ms of CPU per request (measured) spent on a span nobody keeps, which is
    most quote searches when QUOTE_TRACE_RATIO is low. The decision is the one the middleware's span would get:
    the same sampler, name and trace id (`RequestTraceIds`: the request's, set by the API middleware outside).
    The bypassed request runs inside a non-recording span of that trace with the flags the SDK would give it, as
    it would have: what it calls is not sampled either, and its `traceparent` response header says so."""

    def __init__(self, app, span_details, middleware, **options) -> None:
        self.app = app
        self.span_details = span_details
        self.traced = middleware(app, **options)

    async def __call__(self, scope, receive, send):
        span = self._dropped(scope) if scope["type"] == "http" else None
        if span is None:
            return await self.traced(scope, receive, send)
        scope[SPAN_SCOPE_KEY] = span
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)

    def _dropped(self, scope) -> trace.Span | None:
        """The non-recording span of a new trace the sampler drops; None for any other request."""
        request_trace, span_id = trace_id_var.get(), span_id_var.get()
        if _active is None or not request_trace or not span_id or \
                any(name == b"traceparent" for name, _ in scope["headers"]):
            return None
        trace_id = _active.id_generator.generate_trace_id()  # `RequestTraceIds`: the request's, as the span's
        if _active.sampler.should_sample(None, trace_id, self.span_details(scope)[0],
                                         SpanKind.SERVER).decision.is_sampled():
            return None
        flags = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID if _active.id_generator.is_trace_id_random() else 0)
        return trace.NonRecordingSpan(trace.SpanContext(trace_id, int(span_id, 16), False, flags))


def name_server_span(scope, route: str | None) -> trace.Span | None:
    """Name the request's SERVER span by its route template (the path may hold ids; unrouted: the method
    alone); returns the span (None when tracing is off)."""
    span = scope.get(SPAN_SCOPE_KEY)
    if span is not None and span.is_recording():
        span.update_name(f"{scope['method']} {route}" if route else scope["method"])
        if route:
            span.set_attribute("http.route", route)
    return span


def annotate_server_span(scope, **attributes) -> None:
    """Business attributes on the request's SERVER span, where a child span would only repeat its extent (a
    quote: one span fewer to build and export per request); nothing when tracing is off."""
    span = scope.get(SPAN_SCOPE_KEY)
    if span is not None and span.is_recording():
        span.set_attributes(attributes)


@contextmanager
def start_span(name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes) -> Iterator[trace.Span]:
    """A child span of the current one; while open, logs carry its span id."""
    if _active is None:  # tracing off: no span object, but this step still gets its own span id for logs
        token = span_id_var.set(new_span_id())
        try:
            yield trace.INVALID_SPAN
        finally:
            span_id_var.reset(token)
        return
    with _TRACER.start_as_current_span(name, kind=kind, attributes=attributes or None) as span:
        token = span_id_var.set(format(span.get_span_context().span_id, "016x"))
        try:
            yield span
        finally:
            span_id_var.reset(token)


# ------------------------------------------------------------------ a trace kept with a row, continued later


def current_carrier() -> dict[str, str]:
    """The current span's context as W3C headers (`traceparent`, maybe `tracestate`), to store beside work
    that is done later (an outbox row); empty when nothing is traced."""
    if _active is None or not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continued(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block inside the stored trace `carrier` (nothing stored: as a trace of its own). It starts from
    an empty context, so nothing of the caller's (a suppressed poll) leaks into it."""
    if not carrier or _active is None:
        yield
        return
    token = otel_context.attach(propagate.extract(dict(carrier), context=otel_context.Context()))
    try:
        yield
    finally:
        otel_context.detach(token)


def flush(timeout_ms: int = 5000) -> None:
    """Export what is pending (a command about to exit)."""
    if _active is not None:
        with contextlib.suppress(Exception):
            _active.force_flush(timeout_ms)
