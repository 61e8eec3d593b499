"""Storing quotes off the request (`QuoteWriter`: batched COPY) and reading one back (`stored_quote`).

A quote is one `quotes` row naming its offer set; the set holds the priced offers with every price step as
one JSON array in a BYTEA, written once and shared by every quote answered from the same priced offers
(migration 0007; the `quote_offers` view shows them one per row).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from core.money import Money, exponent
from core.pricing import scale_exact

FLUSH_DELAY_S = 0.02
QUOTE_COLUMNS = ("id", "partner_id", "request", "currency", "created_at", "expires_at", "offer_set")

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

    def add(self, quote: tuple, offer_set: OfferSet) -> None:
        self.quotes.append(quote)
        if not offer_set.stored:
            self.sets[offer_set.id] = offer_set
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_DELAY_S)
        try:
            await self.flush()
        except Exception:  # logged with the count lost; the next quotes start a fresh batch
            logger.exception("storing a batch of quotes failed")

    async def flush(self) -> None:
        async with self._lock:
            if not self.quotes:
                return
            quotes, self.quotes = self.quotes, []
            # A set is marked stored only once committed: a failed batch leaves it to the next quote naming it.
            sets = [offer_set for offer_set in self.sets.values() if not offer_set.stored]
            self.sets = {}
            if self.dsn is None:
                async with self.pool.acquire() as conn:
                    await _copy(conn, quotes, sets)
            else:
                if self._connection is None or self._connection.is_closed():
                    self._connection = await asyncpg.connect(self.dsn, command_timeout=self.command_timeout)
                await _copy(self._connection, quotes, sets)
            for offer_set in sets:
                offer_set.stored = True

    async def close(self) -> None:
        """Store what is pending and close the writer's own connection (app shutdown)."""
        try:
            await self.flush()
        finally:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None


async def _copy(conn, quotes: list[tuple], sets: list[OfferSet]) -> None:
    if not sets:  # every set they name is stored already, and one COPY is atomic by itself
        await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)
        return
    async with conn.transaction():
        await conn.copy_records_to_table("quote_offer_sets", records=[(o.id, o.offers) for o in sets],
                                         columns=("id", "offers"))
        await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)


# What the `quote_offers` view does not show of an offer: its room as partners see it, and the offer it is an
# alternative of (quotes stored before room mappings have none of these).
_EXTRAS = """
SELECT (e->>'rank')::int AS rank, e->>'room_name_en' AS name_en, e->>'room_group' AS room_group,
       (e->>'alternative_of')::int AS alternative_of
FROM quotes q JOIN quote_offer_sets s ON s.id = q.offer_set
CROSS JOIN LATERAL jsonb_array_elements(convert_from(s.offers, 'UTF8')::jsonb) AS e
WHERE q.id = $1"""


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
            " price_breakdown, cancellation_policy, refundable, rank FROM quote_offers WHERE quote_id = $1"
            " ORDER BY rank",
            quote["id"])
        extras = {row["rank"]: row for row in await conn.fetch(_EXTRAS, quote["id"])}
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
        extra = extras.get(offer["rank"])
        item = {
            "offer_id": str(offer["id"]), "hotel_id": offer["hotel_id"], "hotel_name": breakdown.get("hotel_name", ""),
            "room_type": (extra and extra["name_en"]) or offer["room_type"], "room_name_local": offer["room_type"],
            "room_group": extra and extra["room_group"], "board": offer["board"],
            "total_price": Money(offer["sell_amount"], currency).as_json(), "nightly": nightly,
            "cancellation_policy": json.loads(offer["cancellation_policy"]), "refundable": offer["refundable"],
        }
        main = extra and extra["alternative_of"]
        if main is None:
            item["alternatives"] = []
            shown[offer["rank"]] = item
            out.append(item)
        else:
            shown[main]["alternatives"].append(item)
    return {"quote_id": str(quote["id"]), "expires_at": quote["expires_at"].isoformat(),
            "check_in": request["check_in"], "check_out": request["check_out"], "rooms": request["rooms"],
            "currency": quote["currency"], "offers": out}
