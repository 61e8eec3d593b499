"""What every adapter shares: the resilient HTTP layer and the booking safety rule.

A booking is sent once. If its outcome is unknown (timeout, 5xx, transport error, unreadable
answer) the booking is looked up by our reference before anything else: it may have succeeded.
"""

from __future__ import annotations

import logging

from core.logs import log
from core.money import Money
from core.suppliers.http import SupplierHttp
from core.suppliers.models import Booking, BookingRequest, CircuitOpen, NightlyRate, SupplierError

logger = logging.getLogger("suppliers")


class BaseAdapter:
    code: str

    def __init__(self, http: SupplierHttp) -> None:
        self.http = http
        self.delta_answers = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _book_once(self, request: BookingRequest) -> Booking:  # pragma: no cover - each adapter's own
        raise NotImplementedError

    async def find_booking(self, our_reference: str) -> Booking | None:  # pragma: no cover
        raise NotImplementedError

    async def _stay_offer(self, request: BookingRequest) -> tuple[str, Money] | None:
        """A rate key for exactly this stay (keys from the sync cover its whole window) and its total."""
        key, total = None, None
        async for item in self.availability([request.supplier_hotel_id], request.check_in, request.check_out):
            if (isinstance(item, NightlyRate) and item.room_code == request.room_code and item.board == request.board
                    and item.rate_plan == request.rate_plan):
                if item.allotment < request.rooms:
                    return None
                key = item.rate_key
                total = item.net if total is None else total + item.net
        if key is None or total is None:
            return None
        return key, total * request.rooms

    async def book(self, request: BookingRequest) -> Booking:
        """Book once; on an unknown outcome, find the booking by our reference before anything else."""
        try:
            return await self._book_once(request)
        except CircuitOpen:
            raise
        except SupplierError as error:
            if not error.transient:
                raise
            log(logger, logging.WARNING, "booking outcome unknown: looking it up by our reference",
                supplier=self.code, our_reference=request.our_reference, reason=error.reason)
            found = await self.find_booking(request.our_reference)
            if found is not None:
                log(logger, logging.INFO, "booking found after an unknown outcome", supplier=self.code,
                    our_reference=request.our_reference, supplier_ref=found.supplier_ref)
                return found
            raise
