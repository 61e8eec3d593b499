"""Every supplier call: one JSON log line, Prometheus metrics, and a row in `supplier_calls`.

Rows are buffered and written in batches (one COPY per flush) from a background thread, so
recording never slows a sync; `flush()` writes what is pending (the sync calls it at the end).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from core.db import plain_url
from core.logs import log

logger = logging.getLogger("suppliers")

SUPPLIER_CALLS = Counter("supplier_calls_total", "Supplier API calls", ["supplier", "operation", "outcome"])
SUPPLIER_LATENCY = Histogram(
    "supplier_call_duration_seconds", "Supplier API call latency", ["supplier", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
CIRCUIT_STATE = Counter("supplier_circuit_transitions_total", "Circuit breaker transitions", ["supplier", "to"])
# 1 while a supplier's breaker is not closed (open, or half-open probing): the alert fires when it stays so.
CIRCUIT_OPEN = Gauge("supplier_circuit_open", "1 while the supplier's circuit breaker is open or half-open",
                     ["supplier"], multiprocess_mode="livemax")


@dataclass(frozen=True, slots=True)
class CallRecord:
    supplier_code: str
    operation: str
    started_at: dt.datetime
    latency_ms: float
    outcome: str  # ok | http_error | timeout | connect_error | malformed | rate_limited | circuit_open
    http_status: int | None
    error: str | None


class CallRecorder:
    """Buffers call rows and writes them to `supplier_calls` in batches."""

    def __init__(self, database_url: str | None, batch_size: int = 200, max_age_s: float = 2.0) -> None:
        self.database_url = plain_url(database_url) if database_url else None
        self.batch_size = batch_size
        self.max_age_s = max_age_s
        self._pending: list[CallRecord] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self.written = 0
        self.failed_writes = 0

    def record(self, call: CallRecord) -> None:
        SUPPLIER_CALLS.labels(call.supplier_code, call.operation, call.outcome).inc()
        SUPPLIER_LATENCY.labels(call.supplier_code, call.operation).observe(call.latency_ms / 1000)
        level = logging.INFO if call.outcome == "ok" else logging.WARNING
        log(logger, level, "supplier call", supplier=call.supplier_code, operation=call.operation,
            latency_ms=round(call.latency_ms, 1), outcome=call.outcome, http_status=call.http_status,
            error=call.error)
        if self.database_url is None:
            return
        with self._lock:
            self._pending.append(call)
            due = len(self._pending) >= self.batch_size or time.monotonic() - self._last_flush > self.max_age_s
        if due:
            threading.Thread(target=self.flush, name="supplier-calls-flush", daemon=True).start()

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if not batch or self.database_url is None:
            return 0
        import psycopg

        try:
            with psycopg.connect(self.database_url) as conn, conn.cursor() as cursor, cursor.copy(
                "COPY supplier_calls (supplier_code, operation, started_at, latency_ms, outcome, http_status, error)"
                " FROM STDIN"
            ) as copy:
                for call in batch:
                    copy.write_row((call.supplier_code, call.operation, call.started_at, round(call.latency_ms, 3),
                                    call.outcome, call.http_status, call.error and call.error[:500]))
        except Exception as error:  # never let bookkeeping break a supplier call
            self.failed_writes += len(batch)
            log(logger, logging.WARNING, "could not record supplier calls", error=str(error), rows=len(batch))
            return 0
        with self._lock:
            self.written += len(batch)
        return len(batch)


_recorders: dict[str | None, CallRecorder] = {}
_recorders_lock = threading.Lock()


def recorder_for(database_url: str | None) -> CallRecorder:
    """One recorder per database per process."""
    with _recorders_lock:
        if database_url not in _recorders:
            _recorders[database_url] = CallRecorder(database_url)
        return _recorders[database_url]
