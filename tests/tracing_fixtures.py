"""The tracing tests' shared fixture: OpenTelemetry on with every finished span kept in memory."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.tracing import build_provider, uninstrument_libraries, use_provider


@pytest.fixture
def exported():
    """Tracing on, every span into memory; off again (and the libraries uninstrumented) afterwards."""
    exporter = InMemorySpanExporter()
    provider = build_provider("api", processor=SimpleSpanProcessor(exporter))
    previous = use_provider(provider)
    yield exporter
    use_provider(previous)
    uninstrument_libraries()
    provider.shutdown()
