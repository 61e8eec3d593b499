"""The resilient HTTP layer every adapter sits on.

One call = a total time budget (`QUERY_TIMEOUT_MS`, waits and retries included), at most
`CONCURRENCY_LIMIT` requests in flight per supplier, retries with exponential backoff and jitter
(`RETRY_MAX_ATTEMPTS`, `RETRY_BACKOFF_MS`) for transient failures only, `Retry-After` honoured, and
the supplier's circuit breaker consulted before anything goes out. Non-idempotent calls (bookings)
are never retried here. Every attempt is logged, counted and recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay, wait_random_exponential

from core.suppliers.breaker import CircuitBreaker
from core.suppliers.calls import CallRecord, CallRecorder
from core.suppliers.models import CircuitOpen, SupplierError, SupplierTimeout
from core.tracing import start_span

T = TypeVar("T")


class SupplierRateLimited(SupplierError):
    """429: the supplier asks us to wait `retry_after` seconds."""

    def __init__(self, supplier: str, operation: str, retry_after: float | None) -> None:
        super().__init__(supplier, operation, f"rate limited (Retry-After {retry_after})", transient=True, status=429)
        self.retry_after = retry_after


class Malformed(SupplierError):
    """The payload could not be read (truncated, not JSON/XML, a required envelope missing)."""

    def __init__(self, supplier: str, operation: str, reason: str, status: int | None = None) -> None:
        super().__init__(supplier, operation, f"malformed payload: {reason}", transient=True, status=status)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, SupplierError) and error.transient and not isinstance(error, CircuitOpen)


class SupplierHttp:
    def __init__(self, code: str, base_url: str, *, concurrency_limit: int, timeout_s: float, max_attempts: int,
                 backoff_s: float, breaker: CircuitBreaker, recorder: CallRecorder,
                 headers: Callable[[], dict[str, str]] | None = None) -> None:
        self.code = code
        self.base_url = base_url.rstrip("/")
        self.concurrency_limit = concurrency_limit
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.breaker = breaker
        self.recorder = recorder
        self._headers = headers or dict
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        # The supplier's own clock (HTTP Date) at the earliest answer since this was last set to None: what a sync
        # asks a delta feed for changes since, whatever our clock says.
        self.earliest_date: dt.datetime | None = None
        # The raw-feed archive: `tap` sees every answer received (core/archive/recorder.py); `transport` answers
        # instead of the supplier (a replay from the archive, core/archive/replay.py).
        self.tap: Callable[[str, httpx.Response], None] | None = None
        self.transport: httpx.AsyncBaseTransport | None = None

    def _bound(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """httpx clients and semaphores belong to one event loop: make them per loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._client.is_closed:
            self._loop = loop
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=None,
                limits=httpx.Limits(max_connections=self.concurrency_limit,
                                    max_keepalive_connections=self.concurrency_limit),
                transport=self.transport,
            )
            self._semaphore = asyncio.Semaphore(self.concurrency_limit)
        return self._client, self._semaphore

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None

    def _note_date(self, header: str | None) -> None:
        try:
            when = email.utils.parsedate_to_datetime(header) if header else None
        except (TypeError, ValueError):
            return
        if when is not None and when.tzinfo is not None and (self.earliest_date is None or when < self.earliest_date):
            self.earliest_date = when

    def _wait(self, retry_state) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, SupplierRateLimited) and error.retry_after is not None:
            return error.retry_after
        return wait_random_exponential(multiplier=self.backoff_s, max=max(self.backoff_s * 8, 0.001))(retry_state)

    async def request(self, operation: str, method: str, path: str, parse: Callable[[httpx.Response], T], *,
                      idempotent: bool = True, accept: tuple[int, ...] = (200, 201), **kwargs: Any) -> T:
        """Send, parse with `parse`, retry transient failures (if idempotent) within the time budget."""
        deadline = time.monotonic() + self.timeout_s
        attempts = self.max_attempts if idempotent else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts) | stop_before_delay(self.timeout_s),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(operation, method, path, parse, accept, deadline, kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, operation: str, method: str, path: str, parse: Callable[[httpx.Response], T],
                    accept: tuple[int, ...], deadline: float, kwargs: dict) -> T:
        started_at = dt.datetime.now(dt.UTC)
        start = time.monotonic()
        status: int | None = None

        def record(outcome: str, error: str | None = None) -> None:
            self.recorder.record(CallRecord(self.code, operation, started_at, (time.monotonic() - start) * 1000,
                                            outcome, status, error))

        if not self.breaker.allow():
            record("circuit_open", "circuit breaker is open")
            raise CircuitOpen(self.code, operation, "circuit breaker is open", transient=False)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.breaker.release()
            record("timeout", "time budget spent before the call")
            raise SupplierTimeout(self.code, operation, "time budget spent", transient=True)
        client, semaphore = self._bound()
        try:
            async with asyncio.timeout(remaining), semaphore:
                # A span per attempt naming the supplier and operation; httpx's instrumentation adds the CLIENT
                # span under it and sends its `traceparent`, which the supplier continues.
                with start_span(f"supplier.{self.code} {operation}", supplier=self.code, operation=operation):
                    response = await client.request(method, path, headers=self._headers(), **kwargs)
                    await response.aread()
        except TimeoutError:
            self.breaker.failure()
            record("timeout", f"no answer within {remaining * 1000:.0f} ms")
            raise SupplierTimeout(self.code, operation, f"no answer within {remaining * 1000:.0f} ms",
                                  transient=True) from None
        except httpx.TimeoutException as error:
            self.breaker.failure()
            record("timeout", str(error) or type(error).__name__)
            raise SupplierTimeout(self.code, operation, "timed out", transient=True) from None
        except httpx.TransportError as error:
            self.breaker.failure()
            record("connect_error", str(error) or type(error).__name__)
            raise SupplierError(self.code, operation, f"transport error: {type(error).__name__}",
                                transient=True) from None
        status = response.status_code
        if self.tap is not None:
            self.tap(operation, response)
        self._note_date(response.headers.get("date"))
        if status == 429:
            self.breaker.release()
            retry_after = _retry_after(response.headers.get("retry-after"))
            record("rate_limited", f"Retry-After {retry_after}")
            raise SupplierRateLimited(self.code, operation, retry_after)
        if status >= 500:
            self.breaker.failure()
            record("http_error", response.text[:200])
            raise SupplierError(self.code, operation, f"HTTP {status}", transient=True, status=status)
        if status not in accept:
            self.breaker.release()
            record("http_error", response.text[:200])
            raise SupplierError(self.code, operation, f"HTTP {status}: {response.text[:200]}", transient=False,
                                status=status)
        try:
            result = parse(response)
        except SupplierError as error:
            if error.transient:
                self.breaker.failure()
                record("malformed", error.reason)
            else:
                self.breaker.success()
                record("rejected", error.reason)
            raise
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, SyntaxError) as error:
            self.breaker.failure()
            record("malformed", f"{type(error).__name__}: {error}")
            raise Malformed(self.code, operation, f"{type(error).__name__}: {error}", status) from None
        self.breaker.success()
        record("ok")
        return result
