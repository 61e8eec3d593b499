"""What every adapter shares: the resilient HTTP layer and the booking safety rule.

A booking is sent once. If its outcome is unknown (timeout, 5xx, transport error, unreadable
answer) the booking is looked up by our reference before anything else: it may have succeeded.
"""

from __future__ import annotations

import logging

from core.logs import log
from core.suppliers.http import SupplierHttp
from core.suppliers.models import Booking, BookingRequest, CircuitOpen, SupplierError

logger = logging.getLogger("suppliers")


class BaseAdapter:
    code: str

    def __init__(self, http: SupplierHttp) -> None:
        self.http = http

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _book_once(self, request: BookingRequest) -> Booking:  # pragma: no cover - each adapter's own
        raise NotImplementedError

    async def find_booking(self, our_reference: str) -> Booking | None:  # pragma: no cover
        raise NotImplementedError

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
