"""The supplier domain model every adapter normalises into, and the adapter interface.

Amounts are Money (Decimal + ISO-4217 currency). Dates are `datetime.date`. Whatever protocol a
supplier speaks (JSON REST, OTA XML, paged JSON), the rest of the platform sees only these types.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from core.money import Money


class RecheckStatus(StrEnum):
    AVAILABLE = "available"
    PRICE_CHANGED = "price_changed"
    SOLD_OUT = "sold_out"


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    PENDING = "pending"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class SupplierHotel:
    supplier_code: str
    supplier_hotel_id: str
    name: str
    address: str | None
    city: str | None
    country: str | None  # ISO 3166-1 alpha-2
    lat: float | None  # coordinates are not money: floats are fine here
    lon: float | None
    star: float | None
    phone: str | None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CancellationRule:
    """From `hours_before` check-in onward, cancelling costs `fee`."""

    hours_before: int
    fee: Money


@dataclass(frozen=True)
class NightlyRate:
    """One sellable room-night: a room type, board and rate plan on one date."""

    supplier_code: str
    supplier_hotel_id: str
    room_code: str
    room_name: str
    board: str  # RO, BB, HB, FB, AI
    rate_plan: str
    stay_date: dt.date
    net: Money
    allotment: int
    refundable: bool
    rate_key: str | None = None
    max_occupancy: int = 2
    cancellation: tuple[CancellationRule, ...] = ()


@dataclass(frozen=True)
class RecheckResult:
    status: RecheckStatus
    total: Money | None  # the current total net price for the stay (None when sold out)
    rate_key: str | None = None  # a fresh key to book with, if the supplier issues one


@dataclass(frozen=True)
class BookingRequest:
    our_reference: str  # unique per order; the supplier stores it, so a booking can be found again
    supplier_hotel_id: str
    room_code: str
    board: str
    rate_plan: str
    check_in: dt.date
    check_out: dt.date
    rooms: int
    guests: tuple[dict, ...]
    expected_total: Money
    rate_key: str | None = None
    contact: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Booking:
    supplier_code: str
    supplier_ref: str
    our_reference: str
    status: BookingStatus
    total: Money
    check_in: dt.date
    check_out: dt.date
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CancellationResult:
    supplier_ref: str
    fee: Money
    cancelled: bool  # False when only simulated (fee quote)


@dataclass(frozen=True)
class StatementLine:
    supplier_ref: str
    check_in: dt.date
    check_out: dt.date
    status: str  # charged | cancelled | no_show
    amount: Money


class SupplierError(Exception):
    """A supplier call failed. `transient` errors may be retried (never a booking, blindly)."""

    def __init__(self, supplier: str, operation: str, reason: str, *, transient: bool, status: int | None = None):
        super().__init__(f"{supplier} {operation}: {reason}")
        self.supplier, self.operation, self.reason = supplier, operation, reason
        self.transient, self.status = transient, status


class SupplierTimeout(SupplierError):
    """The call's outcome is unknown (it may have succeeded at the supplier)."""


class CircuitOpen(SupplierError):
    """The supplier's circuit breaker is open: no call was made."""


class SupplierAdapter(Protocol):
    """What the platform needs from every supplier, whatever its protocol."""

    code: str

    def content(self) -> AsyncIterator[SupplierHotel]:
        """Every hotel the supplier sells (all pages)."""

    delta_answers: int  # availability answers that were deltas (the supplier honoured `changed_since`)

    def availability(
        self, hotel_ids: list[str], check_in: dt.date, check_out: dt.date, changed_since: dt.datetime | None = None
    ) -> AsyncIterator[NightlyRate]:
        """Per-night rates and allotment for these hotels; malformed records raise nothing here:
        they are yielded as `InvalidRecord` for quarantine by the caller. With `changed_since`, a supplier that
        offers a delta feed sends only the rooms' nights that changed since then (and `delta_answers` counts
        the answers that were deltas); one that does not sends everything, which is as correct."""

    async def recheck(self, rate: NightlyRate | None, request: BookingRequest) -> RecheckResult: ...

    async def book(self, request: BookingRequest) -> Booking:
        """Book once. On timeout/5xx the caller must `find_booking(our_reference)` before anything else."""

    async def find_booking(self, our_reference: str) -> Booking | None: ...

    async def get_booking(self, supplier_ref: str) -> Booking: ...

    async def cancel(self, supplier_ref: str, simulate: bool = False) -> CancellationResult: ...

    def statement(self, period_start: dt.date, period_end: dt.date) -> AsyncIterator[StatementLine]: ...


@dataclass(frozen=True)
class InvalidRecord:
    """A supplier record that failed normalisation: quarantined with its reason, never dropped."""

    supplier_code: str
    feed: str  # content | inventory | statement
    record: dict
    reason: str
