"""Quotes: priced offers for a city or a list of hotels, answered from the hot cache (no supplier call).

Cost per quote: the caller's Redis pipeline (rate limit + product set), one MGET of products ×
nights, in-process cached pricing rules / FX / hotel facts / partner tier, and one PostgreSQL
statement that stores the quote with all its offers (the order needs them: net rates and each
price step stay server-side, the partner sees only sell prices).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from core import hotcache
from core.fx import FxCache
from core.hotcache import CachedRate, Product, normalise_city
from core.money import Money, exponent
from core.pricing import PricingContext, RulesCache, price, scale_to_sell

QUOTE_TTL = dt.timedelta(minutes=30)
MAX_OFFERS = 200
FACTS_TTL_S = 300.0
PARTNER_TTL_S = 30.0
PRODUCT_SET_TTL_S = 2.0  # a hotel the sync adds is quoted at most this much later
FLUSH_DELAY_S = 0.02

logger = logging.getLogger("api.quotes")


class QuoteError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class HotelFacts:
    name: str
    city: str  # normalised
    country: str
    star: Decimal | None


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    tier: str
    status: str
    credit_currency: str


class _TtlMap:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.items: dict = {}

    def get(self, key):
        hit = self.items.get(key)
        if hit is None or time.monotonic() - hit[1] >= self.ttl_s:
            return None
        return hit[0]

    def put(self, key, value) -> None:
        if len(self.items) > 50_000:
            self.items.clear()
        self.items[key] = (value, time.monotonic())


@dataclass
class QuoteCaches:
    """Per-process caches the quote path reads instead of PostgreSQL on every request."""

    fx: FxCache
    rules: RulesCache = field(default_factory=RulesCache)
    hotels: _TtlMap = field(default_factory=lambda: _TtlMap(FACTS_TTL_S))
    partners: _TtlMap = field(default_factory=lambda: _TtlMap(PARTNER_TTL_S))
    cities: _TtlMap = field(default_factory=lambda: _TtlMap(FACTS_TTL_S))
    product_sets: _TtlMap = field(default_factory=lambda: _TtlMap(PRODUCT_SET_TTL_S))
    rooms: _TtlMap = field(default_factory=lambda: _TtlMap(FACTS_TTL_S))
    writer: QuoteWriter | None = None


QUOTE_COLUMNS = ("id", "partner_id", "request", "currency", "created_at", "expires_at")
OFFER_COLUMNS = (
    "id", "quote_id", "hotel_id", "supplier_code", "supplier_hotel_id", "room_type_id", "room_type", "board",
    "rate_key", "check_in", "check_out", "rooms", "net_amount", "net_currency", "platform_markup", "partner_markup",
    "fx_rate", "sell_amount", "sell_currency", "price_breakdown", "cancellation_policy", "refundable", "rank",
)


class QuoteWriter:
    """Stores quotes in batches: every quote priced within FLUSH_DELAY_S goes in with one COPY per table.

    The quote path never waits for PostgreSQL; whatever reads a quote back (an order, GET) calls
    `flush()` first, so it always sees every quote this process has answered.
    """

    def __init__(self, pool) -> None:
        self.pool = pool
        self.quotes: list[tuple] = []
        self.offers: list[tuple] = []
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def add(self, quote: tuple, offers: list[tuple]) -> None:
        self.quotes.append(quote)
        self.offers.extend(offers)
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
            quotes, offers = self.quotes, self.offers
            self.quotes, self.offers = [], []
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)
                if offers:
                    await conn.copy_records_to_table("quote_offers", records=offers, columns=OFFER_COLUMNS)


def caches_for(state) -> QuoteCaches:
    caches = getattr(state, "quote_caches", None)
    if caches is None:
        settings = state.settings
        caches = QuoteCaches(fx=FxCache(settings.exchange_rate_cache_ttl, settings.default_currency))
        caches.writer = QuoteWriter(state.pg)
        state.quote_caches = caches
    return caches


async def flush_quotes(state) -> None:
    """Make every quote this process answered visible in PostgreSQL."""
    caches = getattr(state, "quote_caches", None)
    if caches is not None and caches.writer is not None:
        await caches.writer.flush()


async def partner_facts(pool, caches: QuoteCaches, partner_id: str) -> PartnerFacts:
    facts = caches.partners.get(partner_id)
    if facts is None:
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT tier, status, credit_currency FROM partners WHERE id = $1::uuid",
                                      partner_id)
        if row is None:
            raise QuoteError(403, "forbidden", "unknown partner")
        facts = PartnerFacts(row["tier"], row["status"], row["credit_currency"])
        caches.partners.put(partner_id, facts)
    if facts.status != "active":
        raise QuoteError(403, "partner_suspended", "this partner account is suspended")
    return facts


async def room_capacity(pool, caches: QuoteCaches, room_type_ids: set[int]) -> dict[int, int]:
    """Max occupancy per room type (the hot cache does not carry it), cached in-process."""
    found: dict[int, int] = {}
    missing = []
    for room_type_id in room_type_ids:
        value = caches.rooms.get(room_type_id)
        if value is None:
            missing.append(room_type_id)
        else:
            found[room_type_id] = value
    if missing:
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, max_occupancy FROM room_types WHERE id = ANY($1::bigint[])", missing)
        for row in rows:
            caches.rooms.put(row["id"], row["max_occupancy"])
            found[row["id"]] = row["max_occupancy"]
    return found


async def hotel_facts(pool, caches: QuoteCaches, hotel_ids: set[str]) -> dict[str, HotelFacts]:
    found: dict[str, HotelFacts] = {}
    missing = []
    for hotel_id in hotel_ids:
        facts = caches.hotels.get(hotel_id)
        if facts is None:
            missing.append(hotel_id)
        else:
            found[hotel_id] = facts
    if missing:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, name, city, country, star FROM master_hotels WHERE id = ANY($1::text[])", missing)
        for row in rows:
            facts = HotelFacts(row["name"], normalise_city(row["city"]), row["country"], row["star"])
            caches.hotels.put(row["id"], facts)
            found[row["id"]] = facts
    return found


async def city_countries(pool, caches: QuoteCaches, city: str) -> list[str]:
    """Countries where a city of this (normalised) name has hotels, for its hot-cache keys."""
    table = caches.cities.get("all")
    if table is None:
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT DISTINCT city, country FROM master_hotels")
        table = {}
        for row in rows:
            table.setdefault(normalise_city(row["city"]), set()).add(row["country"])
        caches.cities.put("all", table)
    return sorted(table.get(normalise_city(city), ()))


def product_set_keys(city: str | None, countries: list[str], hotel_ids: list[str] | None) -> list[str]:
    if hotel_ids is not None:
        return [hotcache.hotel_key(h) for h in hotel_ids]
    return [hotcache.city_key(country, city) for country in countries]


def products_from_sets(keys_members: list[set], hotel_ids: list[str] | None) -> list[Product]:
    products: set[Product] = set()
    for index, members in enumerate(keys_members):
        for member in members:
            if hotel_ids is not None:
                text = member.decode() if isinstance(member, bytes) else member
                supplier, supplier_hotel_id = text.split("|", 1)
                products.add(Product(hotel_ids[index], supplier, supplier_hotel_id))
            else:
                products.add(Product.parse(member))
    return sorted(products, key=lambda p: (p.hotel_id, p.supplier_code, p.supplier_hotel_id))


@dataclass(slots=True)
class Candidate:
    product: Product
    first: CachedRate
    nightly_net: list[Decimal]
    refundable: bool


def candidates(stays: dict[Product, list[list[CachedRate]]], rooms: int) -> list[Candidate]:
    """Room type × board × rate plan sellable on every night with enough allotment, in one currency."""
    result = []
    for product, nights in stays.items():
        per_night = [{(r.room_type_id, r.board, r.rate_plan): r for r in rates} for rates in nights]
        for key, first in per_night[0].items():
            chain = [night.get(key) for night in per_night]
            if any(r is None or r.allotment < rooms or r.currency != first.currency for r in chain):
                continue
            result.append(Candidate(product, first, [r.net_amount for r in chain], all(r.refundable for r in chain)))
    return result


def cancellation_for(candidate: Candidate, rooms: int) -> list[dict]:
    """The supplier's rules (fee per room, net currency) for this many rooms, in net terms."""
    rules = []
    for rule in candidate.first.cancellation or []:
        try:
            rules.append({"hours_before": int(rule["hours_before"]),
                          "fee": Decimal(str(rule["fee"])) * rooms, "currency": rule.get("currency")})
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
    return rules


def _money(amount: Decimal, currency: str) -> dict:
    return {"amount": str(amount), "currency": currency}


async def build_quote(pool, caches: QuoteCaches, redis, *, partner_id: str, request: dict,
                      products: list[Product], default_currency: str, values: list | None = None) -> dict:
    """Price every sellable offer for `products` and store the quote; returns the response body.

    `values` are the MGET results of `product_night_keys(products, nights)` when the caller already
    fetched them (in its own pipeline); otherwise they are read here.
    """
    check_in: dt.date = request["check_in"]
    check_out: dt.date = request["check_out"]
    rooms: int = request["rooms"]
    nights = hotcache.nights_of(check_in, check_out)
    partner = await partner_facts(pool, caches, partner_id)
    sell_currency = request.get("currency") or partner.credit_currency or default_currency

    stays: dict[Product, list[list[CachedRate]]] = {}
    if products:
        if values is None:
            values = await redis.mget(hotcache.product_night_keys(products, nights))
        stays = hotcache.decode_nights(values, products, nights)
    found = candidates(stays, rooms)
    guests = request["adults"] + len(request.get("children_ages") or ())
    per_room = -(-guests // rooms)  # the fullest room of an even split
    if found:
        capacity = await room_capacity(pool, caches, {c.first.room_type_id for c in found})
        found = [c for c in found if capacity.get(c.first.room_type_id, 0) >= per_room]
    facts = await hotel_facts(pool, caches, {c.product.hotel_id for c in found}) if found else {}
    rules = await caches.rules.rules(pool)
    fx = await caches.fx.table(pool)

    best: dict[tuple, tuple] = {}
    memo: dict = {}
    room_nights = len(nights) * rooms
    for cand in found:
        hotel = facts.get(cand.product.hotel_id)
        if hotel is None:
            continue
        ctx = PricingContext(partner_id, partner.tier, cand.product.supplier_code, hotel.city, hotel.star, check_in)
        net_total = Money(sum(cand.nightly_net, Decimal(0)) * rooms, cand.first.currency)
        try:
            breakdown = price(rules, ctx, net_total, room_nights, sell_currency, fx, memo)
        except LookupError:
            continue  # no FX path for this supplier currency: not sellable in the asked currency
        # One offer per hotel + room + board + refundability: the cheapest supplier's.
        key = (cand.product.hotel_id, cand.first.room_name.casefold(), cand.first.board, cand.refundable)
        current = best.get(key)
        if current is None or breakdown.sell_exact < current[1].sell_exact:
            best[key] = (cand, breakdown, hotel)
    if request.get("currency") and not best and found:
        raise QuoteError(422, "currency_unavailable", f"no exchange rate into {sell_currency}")

    ranked = sorted(best.values(), key=lambda item: (item[1].sell_total.amount, item[0].product.hotel_id,
                                                     item[0].first.room_name))[:MAX_OFFERS]
    quote_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    expires_at = now + QUOTE_TTL
    night_labels = [night.isoformat() for night in nights]
    unit = exponent(sell_currency)
    offers_out = []
    rows: list[tuple] = []
    random_bits = os.urandom(16 * len(ranked))
    for rank, (cand, breakdown, hotel) in enumerate(ranked):
        offer_id = uuid.UUID(bytes=random_bits[rank * 16:(rank + 1) * 16], version=4)
        sell = breakdown.sell_total
        ratio = breakdown.sell_ratio
        nightly = [{"date": day, "price": scale_to_sell(breakdown, net * rooms, ratio, unit)}
                   for day, net in zip(night_labels, cand.nightly_net, strict=True)]
        policy_net = cancellation_for(cand, rooms)
        policy_out = [{"hours_before": rule["hours_before"],
                       "fee": scale_to_sell(breakdown, min(rule["fee"], breakdown.net.amount), ratio, unit)}
                      for rule in policy_net]
        offers_out.append({
            "offer_id": str(offer_id), "hotel_id": cand.product.hotel_id, "hotel_name": hotel.name,
            "room_type": cand.first.room_name, "board": cand.first.board,
            "total_price": {"amount": str(sell.amount), "currency": sell_currency},  # already rounded
            "nightly": nightly, "cancellation_policy": policy_out, "refundable": cand.refundable,
        })
        stored = breakdown.as_json()
        stored["product"] = {"room_code": cand.first.room_code, "rate_plan": cand.first.rate_plan,
                             "nightly_net": [str(n) for n in cand.nightly_net],
                             "nights": night_labels,
                             "supplier_policy": [{**r, "fee": str(r["fee"])} for r in policy_net]}
        stored["hotel_name"] = hotel.name
        rows.append((
            offer_id, quote_id, cand.product.hotel_id, cand.product.supplier_code, cand.product.supplier_hotel_id,
            cand.first.room_type_id, cand.first.room_name, cand.first.board, cand.first.rate_key, check_in,
            check_out, rooms, breakdown.net.amount, breakdown.net.currency, breakdown.platform_markup,
            breakdown.partner_markup, breakdown.fx_rate, sell.amount, sell_currency, orjson.dumps(stored).decode(),
            orjson.dumps(policy_out).decode(), cand.refundable, rank,
        ))
    request_json = json.dumps({k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in request.items()})
    caches.writer.add((quote_id, uuid.UUID(partner_id), request_json, sell_currency, now, expires_at), rows)
    return {
        "quote_id": str(quote_id), "expires_at": expires_at.isoformat(), "check_in": check_in.isoformat(),
        "check_out": check_out.isoformat(), "rooms": rooms, "currency": sell_currency, "offers": offers_out,
    }


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
            " price_breakdown, cancellation_policy, refundable FROM quote_offers WHERE quote_id = $1 ORDER BY rank",
            quote["id"])
    request = json.loads(quote["request"])
    out = []
    for offer in offers:
        breakdown = json.loads(offer["price_breakdown"])
        product = breakdown["product"]
        ratio_base = Decimal(breakdown["net"]["amount"])
        sell_exact = Decimal(breakdown["sell_exact"]["amount"])
        nightly = []
        for night, net in zip(product["nights"], product["nightly_net"], strict=True):
            amount = Decimal(net) * offer["rooms"] * sell_exact / ratio_base if ratio_base else Decimal(0)
            nightly.append({"date": night, "price": Money(amount, offer["sell_currency"]).as_json()})
        out.append({
            "offer_id": str(offer["id"]), "hotel_id": offer["hotel_id"], "hotel_name": breakdown.get("hotel_name", ""),
            "room_type": offer["room_type"], "board": offer["board"],
            "total_price": Money(offer["sell_amount"], offer["sell_currency"]).as_json(), "nightly": nightly,
            "cancellation_policy": json.loads(offer["cancellation_policy"]), "refundable": offer["refundable"],
        })
    return {"quote_id": str(quote["id"]), "expires_at": quote["expires_at"].isoformat(),
            "check_in": request["check_in"], "check_out": request["check_out"], "rooms": request["rooms"],
            "currency": quote["currency"], "offers": out}
