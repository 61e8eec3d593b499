"""Storing quotes off the request (`QuoteWriter`: batched COPY) and reading one back (`stored_quote`).

A quote is one `quotes` row naming its offer set; the set holds the priced offers with every price step as
one JSON array in a BYTEA, written once and shared by every quote answered from the same priced offers
(migration 0007; the `quote_offers` view shows them one per row). Both tables are partitioned by day (migration
0020b): the writer makes the partitions of the days it writes, the retention job drops the old ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from core.money import Money, exponent
from core.pricing import scale_exact

FLUSH_DELAY_S = 0.02
RETRY_S = 1.0  # a batch PostgreSQL refused (down, restarting) is tried again this often, kept meanwhile
MAX_PENDING = 100_000  # quotes kept for PostgreSQL at most; beyond, the oldest are dropped (and logged)
QUOTE_COLUMNS = ("id", "partner_id", "request", "currency", "created_at", "expires_at", "offer_set")
CREATED_AT = QUOTE_COLUMNS.index("created_at")
PARTITIONED = ("quotes", "quote_offer_sets")

logger = logging.getLogger("api.quotes")


@dataclass(slots=True)
class OfferSet:
    """Priced offers as stored: their JSON without offer ids (the `quote_offers` view derives them)."""

    id: uuid.UUID
    offers: bytes
    stored: bool = False


class QuoteWriter:
    """Stores quotes in batches: every quote priced within FLUSH_DELAY_S goes in with one COPY (a row per
    quote), after the offer sets they name that are not stored yet, in one transaction.

    The quote path never waits for PostgreSQL; whatever reads a quote back (an order, GET) calls
    `flush()` first, so it always sees every quote this process has answered. With a `dsn` the writer
    keeps its own connection (a pool connection pays a reset round trip on every release).
    """

    def __init__(self, pool, dsn: str | None = None, command_timeout: float | None = None) -> None:
        self.pool = pool
        self.dsn = dsn
        self.command_timeout = command_timeout
        self.quotes: list[tuple] = []
        self.sets: dict[uuid.UUID, OfferSet] = {}
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._connection = None
        self._days: set[dt.date] = set()  # days whose partitions are known to exist

    def add(self, quote: tuple, offer_set: OfferSet) -> None:
        self.quotes.append(quote)
        if not offer_set.stored:
            self.sets[offer_set.id] = offer_set
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        delay = FLUSH_DELAY_S
        while True:
            await asyncio.sleep(delay)
            try:
                await self.flush()
                return
            except Exception as error:  # kept, and tried again: PostgreSQL down loses no quote it comes back for
                if delay == FLUSH_DELAY_S:
                    logger.warning("storing a batch of quotes failed; retrying every %.0f s", RETRY_S,
                                   extra={"context": {"error": type(error).__name__, "pending": len(self.quotes)}})
                delay = RETRY_S

    async def flush(self) -> None:
        async with self._lock:
            if not self.quotes:
                return
            quotes, self.quotes = self.quotes, []
            sets = [offer_set for offer_set in self.sets.values() if not offer_set.stored]
            self.sets = {}
            try:
                if self.dsn is None:
                    async with self.pool.acquire() as conn:
                        await self._store(conn, quotes, sets)
                else:
                    if self._connection is None or self._connection.is_closed():
                        self._connection = await asyncpg.connect(self.dsn, command_timeout=self.command_timeout)
                    await self._store(self._connection, quotes, sets)
            except BaseException:
                self._keep(quotes, sets)
                raise
            for offer_set in sets:  # marked stored only once committed
                offer_set.stored = True

    async def _store(self, conn, quotes: list[tuple], sets: list[OfferSet]) -> None:
        days = {quote[CREATED_AT].astimezone(dt.UTC).date() for quote in quotes} - self._days
        for day in sorted(days):  # a new day: its partitions (and the next day's) made once per process
            await ensure_partitions(conn, day, day + dt.timedelta(days=1))
            self._days.add(day)
        await _copy(conn, quotes, sets)

    def _keep(self, quotes: list[tuple], sets: list[OfferSet]) -> None:
        """Put a batch that was not stored back in front of what came meanwhile (at most MAX_PENDING quotes)."""
        self.quotes[:0] = quotes
        for offer_set in sets:
            self.sets.setdefault(offer_set.id, offer_set)
        if len(self.quotes) > MAX_PENDING:
            dropped = len(self.quotes) - MAX_PENDING
            del self.quotes[:dropped]
            logger.error("quotes dropped: PostgreSQL has been unavailable too long",
                         extra={"context": {"dropped": dropped}})

    async def close(self) -> None:
        """Store what is pending and close the writer's own connection (app shutdown)."""
        try:
            await self.flush()
        finally:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None


async def ensure_partitions(conn, *days: dt.date) -> None:
    """Make the day partitions of the quote tables for these days (a no-op for the ones that exist)."""
    await conn.executemany("SELECT ensure_day_partition($1::regclass, $2)",
                           [(table, day) for day in days for table in PARTITIONED])


async def _copy(conn, quotes: list[tuple], sets: list[OfferSet]) -> None:
    if not sets:  # every set they name is stored already, and one COPY is atomic by itself
        await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)
        return
    async with conn.transaction():
        await conn.copy_records_to_table("quote_offer_sets", records=[(o.id, o.offers) for o in sets],
                                         columns=("id", "offers"))
        await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)


async def stored_quote(pool, partner_id: str, quote_id: str) -> dict | None:
    """A partner's own stored quote (None for another partner's: the caller answers 404). Flush first."""
    async with pool.acquire() as conn:
        quote = await conn.fetchrow(
            "SELECT id, request, currency, expires_at FROM quotes WHERE id = $1::uuid AND partner_id = $2::uuid",
            quote_id, partner_id)
        if quote is None:
            return None
        offers = await conn.fetch(
            "SELECT id, hotel_id, room_type, board, check_in, check_out, rooms, sell_amount, sell_currency,"
            " price_breakdown, cancellation_policy, refundable, rank, room_name_en, room_group, alternative_of"
            " FROM quote_offers WHERE quote_id = $1 ORDER BY rank",
            quote["id"])
    request = json.loads(quote["request"])
    out, shown = [], {}
    for offer in offers:
        breakdown = json.loads(offer["price_breakdown"])
        product = breakdown["product"]
        net = Decimal(breakdown["net"]["amount"])
        sell_exact = Decimal(breakdown["sell_exact"]["amount"])
        currency = offer["sell_currency"]
        unit = exponent(currency)
        nightly = [{"date": night, "price": {"amount": str(scale_exact(Decimal(night_net) * offer["rooms"],
                                                                       sell_exact, net, unit)),
                                             "currency": currency}}
                   for night, night_net in zip(product["nights"], product["nightly_net"], strict=True)]
        item = {
            "offer_id": str(offer["id"]), "hotel_id": offer["hotel_id"], "hotel_name": breakdown.get("hotel_name", ""),
            "room_type": offer["room_name_en"] or offer["room_type"], "room_name_local": offer["room_type"],
            "room_group": offer["room_group"], "board": offer["board"],
            "total_price": Money(offer["sell_amount"], currency).as_json(), "nightly": nightly,
            "cancellation_policy": json.loads(offer["cancellation_policy"]), "refundable": offer["refundable"],
        }
        main = offer["alternative_of"]
        if main is None:
            item["alternatives"] = []
            shown[offer["rank"]] = item
            out.append(item)
        else:
            shown[main]["alternatives"].append(item)
    return {"quote_id": str(quote["id"]), "expires_at": quote["expires_at"].isoformat(),
            "check_in": request["check_in"], "check_out": request["check_out"], "rooms": request["rooms"],
            "currency": quote["currency"], "offers": out}
