"""Pure-ASGI middleware: trace ids, one JSON log line and Prometheus metrics per request.

Pure ASGI rather than BaseHTTPMiddleware: it costs a fraction per request and streams bodies. It sits outside
OpenTelemetry's ASGI middleware (`core.tracing.asgi_tracing`, when tracing is on): it names the request's trace
for the logs first (so a root span takes that id), and answers with the SERVER span's `traceparent`.
"""

from __future__ import annotations

import logging
import time

from api.errors import TRACE_SCOPE_KEY
from core.logs import new_span_id, span_id_var, trace_id_var
from core.metrics import HTTP_DURATION, HTTP_REQUESTS
from core.tracing import name_server_span, trace_from_headers, traceparent

logger = logging.getLogger("api.request")


class ObservabilityMiddleware:
    def __init__(self, app, service: str = "api") -> None:
        self.app = app
        self.service = service
        self._children: dict[tuple, tuple] = {}

    def _metrics(self, route: str, method: str, status: int) -> tuple:
        """The request counter and duration histogram of these labels (kept: `labels()` takes a lock and
        builds its key on every call). Routes are templates, so the label sets are few."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            labels = (self.service, route, method, str(status))
            children = self._children[key] = (HTTP_REQUESTS.labels(*labels), HTTP_DURATION.labels(*labels))
        return children

    def _record(self, route: str, method: str, status: int, elapsed: float, parent_span: str | None) -> None:
        requests, duration = self._metrics(route, method, status)
        requests.inc()
        duration.observe(elapsed)
        if route not in ("/metrics", "/health") and logger.isEnabledFor(logging.INFO):
            logger.info("request", extra={"context": {
                "method": method, "route": route, "status": status, "durationMs": round(elapsed * 1000, 2),
                "parentSpanId": parent_span}})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        trace_id, parent_span = trace_from_headers(dict(scope["headers"]))
        scope[TRACE_SCOPE_KEY] = trace_id  # for an error answered outside this middleware (a 500)
        trace_token = trace_id_var.set(trace_id)
        span_id = new_span_id()  # this request's span for the logs (the SERVER span's id when tracing is on)
        span_token = span_id_var.set(span_id)
        status = 500
        started = time.perf_counter()
        method = scope["method"]

        async def send_with_trace(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                span = name_server_span(scope, getattr(scope.get("route"), "path", None))
                header = traceparent(trace_id, span_id)
                if span is not None and span.get_span_context().is_valid:
                    context = span.get_span_context()
                    header = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", trace_id.encode()),
                                      (b"traceparent", header.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            route = scope.get("route")
            route_label = getattr(route, "path", None) or "unmatched"
            self._record(route_label, method, status, time.perf_counter() - started, parent_span)
            trace_id_var.reset(trace_token)
            span_id_var.reset(span_token)
