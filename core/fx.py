"""Exchange rates from `fx_rates`, cached in-process for EXCHANGE_RATE_CACHE_TTL seconds.

The newest `as_of` of each pair wins. A pair missing directly is served by its inverse, then by a
cross through the platform's default currency, then through the reference currency the rate sets are
quoted in (EUR: the ECB's euro reference rates, `core.fx_rates`). Rates are Decimal; conversion does not round
(rounding happens once, in pricing).
"""

from __future__ import annotations

import time
from decimal import Decimal

LATEST_RATES_SQL = (
    "SELECT DISTINCT ON (base_currency, quote_currency) base_currency, quote_currency, rate"
    " FROM fx_rates ORDER BY base_currency, quote_currency, as_of DESC"
)


class FxUnavailable(LookupError):
    def __init__(self, base: str, quote: str) -> None:
        super().__init__(f"no exchange rate from {base} to {quote}")
        self.base, self.quote = base, quote


REFERENCE_CURRENCY = "EUR"


class FxTable:
    def __init__(self, rates: dict[tuple[str, str], Decimal], pivot: str, reference: str = REFERENCE_CURRENCY) -> None:
        self.rates = rates
        self.pivot = pivot
        self.pivots = tuple(dict.fromkeys((pivot, reference)))

    def _direct(self, base: str, quote: str) -> Decimal | None:
        if base == quote:
            return Decimal(1)
        direct = self.rates.get((base, quote))
        if direct is not None:
            return direct
        inverse = self.rates.get((quote, base))
        return None if inverse is None else Decimal(1) / inverse

    def rate(self, base: str, quote: str) -> Decimal:
        direct = self._direct(base, quote)
        if direct is not None:
            return direct
        for pivot in self.pivots:
            if pivot in (base, quote):
                continue
            first, second = self._direct(base, pivot), self._direct(pivot, quote)
            if first is not None and second is not None:
                return first * second
        raise FxUnavailable(base, quote)


class FxCache:
    """Latest rates, reloaded from PostgreSQL (asyncpg pool) once `ttl_s` has passed."""

    def __init__(self, ttl_s: int, pivot: str) -> None:
        self.ttl_s = ttl_s
        self.pivot = pivot
        self._table: FxTable | None = None
        self._loaded_at = 0.0

    async def table(self, pool) -> FxTable:
        if self._table is None or time.monotonic() - self._loaded_at >= self.ttl_s:
            async with pool.acquire() as conn:
                rows = await conn.fetch(LATEST_RATES_SQL)
            self._table = FxTable({(r["base_currency"], r["quote_currency"]): r["rate"] for r in rows}, self.pivot)
            self._loaded_at = time.monotonic()
        return self._table

    def invalidate(self) -> None:
        self._table = None
