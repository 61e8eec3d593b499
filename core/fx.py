"""Exchange rates from `fx_rates`, cached in-process for EXCHANGE_RATE_CACHE_TTL seconds.

The newest `as_of` of each pair wins. A pair missing directly is served by its inverse, then by a
cross through the platform's default currency, then through the reference currency the rate sets are
quoted in (EUR: the ECB's euro reference rates, `core.fx_rates`). Rates are Decimal; conversion does not round
(rounding happens once, in pricing).

Staleness: a rate is as old as the oldest rate set it is derived from. Once that set is more than FX_MAX_AGE_DAYS
(calendar days, UTC) old when the table is loaded, the rate is stale: `FxTable.quote` prefers a path of fresh
rates and otherwise returns the stale one with its day, so pricing can refuse to sell on it and say why
(`core.quotes.offers`). ECB publishes no set at weekends, hence a default of 3 days.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal

LATEST_RATES_SQL = (
    "SELECT DISTINCT ON (base_currency, quote_currency) base_currency, quote_currency, rate, as_of"
    " FROM fx_rates ORDER BY base_currency, quote_currency, as_of DESC"
)


class FxUnavailable(LookupError):
    def __init__(self, base: str, quote: str) -> None:
        super().__init__(f"no exchange rate from {base} to {quote}")
        self.base, self.quote = base, quote


REFERENCE_CURRENCY = "EUR"
FAR_FUTURE = dt.date.max


@dataclass(frozen=True, slots=True)
class StaleRate:
    """Why offers needing a conversion are not sold: the rate's oldest set is older than the allowed age."""

    base: str
    quote: str
    as_of: dt.date
    max_age_days: int

    code = "fx_rate_stale"

    @property
    def message(self) -> str:
        return (f"{self.code}: {self.base}→{self.quote} rate set of {self.as_of.isoformat()} is older than "
                f"{self.max_age_days} days")


class FxTable:
    def __init__(self, rates: dict[tuple[str, str], Decimal], pivot: str, reference: str = REFERENCE_CURRENCY,
                 as_of: dict[tuple[str, str], dt.date] | None = None, stale_before: dt.date | None = None,
                 max_age_days: int | None = None) -> None:
        self.rates = rates
        self.pivot = pivot
        self.pivots = tuple(dict.fromkeys((pivot, reference)))
        self.as_of = as_of or {}  # each pair's rate set day (no entry: undated, never stale)
        self.stale_before = stale_before  # a set of an earlier day is stale (None: nothing is)
        self.max_age_days = max_age_days

    @property
    def newest(self) -> dt.date | None:
        """The day of the newest rate set in the table."""
        return max(self.as_of.values(), default=None)

    def _direct(self, base: str, quote: str) -> tuple[Decimal, dt.date] | None:
        if base == quote:
            return Decimal(1), FAR_FUTURE
        direct = self.rates.get((base, quote))
        if direct is not None:
            return direct, self.as_of.get((base, quote), FAR_FUTURE)
        inverse = self.rates.get((quote, base))
        return None if inverse is None else (Decimal(1) / inverse, self.as_of.get((quote, base), FAR_FUTURE))

    def _paths(self, base: str, quote: str):
        direct = self._direct(base, quote)
        if direct is not None:
            yield direct
        for pivot in self.pivots:
            if pivot in (base, quote):
                continue
            first, second = self._direct(base, pivot), self._direct(pivot, quote)
            if first is not None and second is not None:
                yield first[0] * second[0], min(first[1], second[1])

    def quote(self, base: str, quote: str) -> tuple[Decimal, dt.date | None, StaleRate | None]:
        """The rate, the day of its oldest rate set (None: undated) and, when every path is stale, why (the first
        path is then used: the rate a fresh load would replace)."""
        found = None
        for rate, day in self._paths(base, quote):
            stale = self.stale_before is not None and day < self.stale_before
            if not stale:
                return rate, None if day is FAR_FUTURE else day, None
            if found is None:
                found = rate, day, StaleRate(base, quote, day, self.max_age_days or 0)
        if found is None:
            raise FxUnavailable(base, quote)
        return found

    def rate(self, base: str, quote: str) -> Decimal:
        return self.quote(base, quote)[0]

    def stale(self, base: str, quote: str) -> StaleRate | None:
        """Why the rate is stale, or None (fresh, or no path: `rate` raises then)."""
        try:
            return self.quote(base, quote)[2]
        except FxUnavailable:
            return None


class FxCache:
    """Latest rates, reloaded from PostgreSQL (asyncpg pool) once `ttl_s` has passed."""

    def __init__(self, ttl_s: int, pivot: str, max_age_days: int | None = None) -> None:
        self.ttl_s = ttl_s
        self.pivot = pivot
        self.max_age_days = max_age_days
        self._table: FxTable | None = None
        self._loaded_at = 0.0

    async def table(self, pool) -> FxTable:
        """The newest rates (within ttl_s); staleness is judged against the day it was loaded on, so a table is also
        reloaded when the UTC day changes."""
        today = dt.datetime.now(dt.UTC).date()
        if (self._table is None or time.monotonic() - self._loaded_at >= self.ttl_s
                or self._loaded_on != today):
            async with pool.acquire() as conn:
                rows = await conn.fetch(LATEST_RATES_SQL)
            self._table = table_of(rows, self.pivot, self.max_age_days, today)
            self._loaded_at, self._loaded_on = time.monotonic(), today
            freshness(self._table, today).export()
        return self._table

    _loaded_on: dt.date | None = None

    def invalidate(self) -> None:
        self._table = None


@dataclass(frozen=True, slots=True)
class Freshness:
    """How old the newest rate set is, as /health and the metrics report it."""

    newest: dt.date | None
    age_days: int | None
    max_age_days: int | None

    @property
    def status(self) -> str:
        if self.newest is None:
            return "none"
        return "stale" if self.max_age_days is not None and self.age_days > self.max_age_days else "ok"

    def as_json(self) -> dict:
        return {"status": self.status, "newest_set": self.newest.isoformat() if self.newest else None,
                "age_days": self.age_days, "max_age_days": self.max_age_days}

    def export(self) -> None:
        from core.metrics import FX_RATES_AGE_DAYS, FX_RATES_MAX_AGE_DAYS

        FX_RATES_AGE_DAYS.set(float("nan") if self.age_days is None else self.age_days)
        if self.max_age_days is not None:
            FX_RATES_MAX_AGE_DAYS.set(self.max_age_days)


def freshness(table: FxTable, today: dt.date) -> Freshness:
    newest = table.newest
    return Freshness(newest, None if newest is None else (today - newest).days, table.max_age_days)


def table_of(rows, pivot: str, max_age_days: int | None, today: dt.date) -> FxTable:
    """An FxTable of LATEST_RATES_SQL's rows, judged for staleness on `today`."""
    pairs = {(r["base_currency"], r["quote_currency"]): r for r in rows}
    stale_before = None if max_age_days is None else today - dt.timedelta(days=max_age_days)
    return FxTable({pair: r["rate"] for pair, r in pairs.items()}, pivot,
                   as_of={pair: r["as_of"] for pair, r in pairs.items()}, stale_before=stale_before,
                   max_age_days=max_age_days)
