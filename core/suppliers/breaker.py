"""A circuit breaker per supplier: closed → open after N consecutive failures → half-open after
the reset time (one trial call) → closed on success, open again on failure."""

from __future__ import annotations

import threading
import time

from core.suppliers.calls import CIRCUIT_OPEN, CIRCUIT_STATE

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(self, supplier: str, failure_threshold: int = 5, reset_timeout_s: float = 30.0) -> None:
        self.supplier = supplier
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and time.monotonic() - self._opened_at >= self.reset_timeout_s:
                return HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one trial call at a time."""
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._state == OPEN:
                if time.monotonic() - self._opened_at < self.reset_timeout_s:
                    return False
                self._transition(HALF_OPEN)
            if self._trial_in_flight:
                return False
            self._trial_in_flight = True
            return True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_in_flight = False
            if self._state != CLOSED:
                self._transition(CLOSED)

    def failure(self) -> None:
        with self._lock:
            self._trial_in_flight = False
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = time.monotonic()
                if self._state != OPEN:
                    self._transition(OPEN)

    def release(self) -> None:
        """A call ended with neither success nor a supplier failure (e.g. a 4xx we caused)."""
        with self._lock:
            self._trial_in_flight = False

    def _transition(self, to: str) -> None:
        self._state = to
        CIRCUIT_STATE.labels(self.supplier, to).inc()
        CIRCUIT_OPEN.labels(self.supplier).set(0 if to == CLOSED else 1)


_breakers: dict[tuple[str, str], CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(supplier: str, base_url: str, failure_threshold: int, reset_timeout_s: float) -> CircuitBreaker:
    """One breaker per supplier endpoint per process, shared by every adapter instance."""
    with _breakers_lock:
        key = (supplier, base_url)
        breaker = _breakers.get(key)
        if breaker is None or (breaker.failure_threshold, breaker.reset_timeout_s) != (failure_threshold,
                                                                                        reset_timeout_s):
            breaker = CircuitBreaker(supplier, failure_threshold, reset_timeout_s)
            _breakers[key] = breaker
        return breaker


def reset_breakers() -> None:
    """Forget every breaker's state (tests; an operator after fixing a supplier's configuration)."""
    with _breakers_lock:
        _breakers.clear()


def breaker_states() -> dict[str, str]:
    """Each supplier's breaker state in this process (the worst of its endpoints'); suppliers never called here
    are absent."""
    order = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
    with _breakers_lock:
        breakers = list(_breakers.items())
    states: dict[str, str] = {}
    for (supplier, _url), breaker in breakers:
        state = breaker.state
        if order[state] >= order[states.get(supplier, CLOSED)]:
            states[supplier] = state
    return states
