"""asyncpg instrumentation: a CLIENT span per query, named by its SQL verb.

The same spans as opentelemetry-instrumentation-asyncpg (which wraps the same five `Connection` methods), kept
here because its latest release (0.66b1) pins opentelemetry-semantic-conventions 0.66b1, which cannot be
installed beside opentelemetry-sdk 1.45.2 (it needs 0.66b2): replace this module by that package once a
release of the SDK's train exists. Pool calls go through these methods too.
"""

from __future__ import annotations

from collections.abc import Collection

import asyncpg
import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.semconv._incubating.attributes.db_attributes import (
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_QUERY_TEXT,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import SpanKind, Status, StatusCode

_METHODS = ("execute", "executemany", "fetch", "fetchval", "fetchrow")
_QUERY_TEXT_MAX = 2000


def _attributes(connection, query: str, operation: str) -> dict:
    attributes = {DB_SYSTEM_NAME: "postgresql", DB_OPERATION_NAME: operation, DB_QUERY_TEXT: query[:_QUERY_TEXT_MAX]}
    params = getattr(connection, "_params", None)
    if getattr(params, "database", None):
        attributes[DB_NAMESPACE] = params.database
    address = getattr(connection, "_addr", None)
    if isinstance(address, tuple):
        attributes[SERVER_ADDRESS], attributes[SERVER_PORT] = address[0], address[1]
    elif isinstance(address, str):
        attributes[SERVER_ADDRESS] = address
    return attributes


class AsyncpgInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("asyncpg >= 0.12.0",)

    def _instrument(self, **kwargs) -> None:
        tracer = trace.get_tracer(__name__, tracer_provider=kwargs.get("tracer_provider"))

        async def traced(wrapped, instance, args, kwargs):
            query = args[0] if args and isinstance(args[0], str) else ""
            # Nothing recording around this query: the sampler would drop its span (a lonely CLIENT span, or a
            # dropped trace's child), so skip building it and its attributes.
            if not is_instrumentation_enabled() or not query or not trace.get_current_span().is_recording():
                return await wrapped(*args, **kwargs)
            operation = query.split(None, 1)[0].upper() if query.strip() else "QUERY"
            with tracer.start_as_current_span(operation, kind=SpanKind.CLIENT,
                                              attributes=_attributes(instance, query, operation),
                                              record_exception=True, set_status_on_exception=False) as span:
                try:
                    return await wrapped(*args, **kwargs)
                except Exception as error:
                    if span.is_recording():
                        span.set_status(Status(StatusCode.ERROR))
                        span.set_attribute(ERROR_TYPE, type(error).__qualname__)
                    raise

        for method in _METHODS:
            wrapt.wrap_function_wrapper("asyncpg.connection", f"Connection.{method}", traced)

    def _uninstrument(self, **kwargs) -> None:
        for method in _METHODS:
            unwrap(asyncpg.connection.Connection, method)
