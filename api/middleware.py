"""Pure-ASGI middleware: trace ids, one JSON log line and Prometheus metrics per request.

Pure ASGI rather than BaseHTTPMiddleware: it costs a fraction per request and streams bodies.
"""

from __future__ import annotations

import logging
import re
import time

from api.errors import TRACE_SCOPE_KEY
from core.logs import new_span_id, new_trace_id, span_id_var, trace_id_var
from core.metrics import HTTP_DURATION, HTTP_REQUESTS

logger = logging.getLogger("api.request")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


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

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        trace_id, parent_span = trace_from_headers(headers)
        scope[TRACE_SCOPE_KEY] = trace_id  # for an error answered outside this middleware (a 500)
        span_id = new_span_id()
        trace_token = trace_id_var.set(trace_id)
        span_token = span_id_var.set(span_id)
        status = 500
        started = time.perf_counter()

        async def send_with_trace(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", trace_id.encode()),
                    (b"traceparent", f"00-{trace_id.rjust(32, '0')[:32]}-{span_id}-01".encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_label = getattr(route, "path", None) or "unmatched"
            requests, duration = self._metrics(route_label, scope["method"], status)
            requests.inc()
            duration.observe(elapsed)
            if route_label not in ("/metrics", "/health") and logger.isEnabledFor(logging.INFO):
                logger.info(
                    "request",
                    extra={"context": {
                        "method": scope["method"], "route": route_label, "status": status,
                        "durationMs": round(elapsed * 1000, 2), "parentSpanId": parent_span,
                    }},
                )
            trace_id_var.reset(trace_token)
            span_id_var.reset(span_token)
