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
from decimal import ROUND_HALF_UP, Decimal

import asyncpg
import orjson

from core import hotcache
from core.db import plain_url
from core.fx import FxCache
from core.hotcache import CachedRate, Product, normalise_city
from core.money import Money, exponent
from core.pricing import PricingContext, RulesCache, breakdown_json, rules_for
from core.pricing import chain as chain_of

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
    night_keys: _TtlMap = field(default_factory=lambda: _TtlMap(PRODUCT_SET_TTL_S))
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
    `flush()` first, so it always sees every quote this process has answered. With a `dsn` the writer
    keeps its own connection (a pool connection pays a reset round trip on every release).
    """

    def __init__(self, pool, dsn: str | None = None, command_timeout: float | None = None) -> None:
        self.pool = pool
        self.dsn = dsn
        self.command_timeout = command_timeout
        self.quotes: list[tuple] = []
        self.offers: list[tuple] = []
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._connection = None

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
            if self.dsn is None:
                async with self.pool.acquire() as conn:
                    await self._copy(conn, quotes, offers)
                return
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self.dsn, command_timeout=self.command_timeout)
            await self._copy(self._connection, quotes, offers)

    @staticmethod
    async def _copy(conn, quotes: list[tuple], offers: list[tuple]) -> None:
        async with conn.transaction():
            await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)
            if offers:
                await conn.copy_records_to_table("quote_offers", records=offers, columns=OFFER_COLUMNS)

    async def close(self) -> None:
        """Store what is pending and close the writer's own connection (app shutdown)."""
        try:
            await self.flush()
        finally:
            if self._connection is not None:
                await self._connection.close()
                self._connection = None


def caches_for(state) -> QuoteCaches:
    caches = getattr(state, "quote_caches", None)
    if caches is None:
        settings = state.settings
        caches = QuoteCaches(fx=FxCache(settings.exchange_rate_cache_ttl, settings.default_currency))
        endpoints = getattr(state, "endpoints", None)
        dsn = plain_url(endpoints.database_url) if endpoints is not None else None
        caches.writer = QuoteWriter(state.pg, dsn, settings.query_timeout_ms / 1000)
        state.quote_caches = caches
    return caches


async def close_quotes(state) -> None:
    """App shutdown: store the pending batch and close the writer's connection."""
    caches = getattr(state, "quote_caches", None)
    if caches is not None and caches.writer is not None:
        await caches.writer.close()


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


def _split_cached(cache, keys) -> tuple[dict, list]:
    """The cached values for `keys`, and the keys the cache does not hold."""
    found, missing = {}, []
    for key in keys:
        value = cache.get(key)
        if value is None:
            missing.append(key)
        else:
            found[key] = value
    return found, missing


async def room_capacity(pool, caches: QuoteCaches, room_type_ids: set[int]) -> dict[int, int]:
    """Max occupancy per room type (the hot cache does not carry it), cached in-process."""
    found, missing = _split_cached(caches.rooms, room_type_ids)
    if missing:
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, max_occupancy FROM room_types WHERE id = ANY($1::bigint[])", missing)
        for row in rows:
            caches.rooms.put(row["id"], row["max_occupancy"])
            found[row["id"]] = row["max_occupancy"]
    return found


async def hotel_facts(pool, caches: QuoteCaches, hotel_ids: set[str]) -> dict[str, HotelFacts]:
    found, missing = _split_cached(caches.hotels, hotel_ids)
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


# Positions in a cached rate list (the `CachedRate.to_json` layout), read raw on the quote path.
_ROOM_TYPE, _ROOM_CODE, _ROOM_NAME, _BOARD, _PLAN, _AMOUNT, _CURRENCY, _ALLOTMENT, _REFUNDABLE, _RATE_KEY, _POLICY = \
    range(11)


def raw_candidates(stays: dict[Product, list[list[list]]], rooms: int) -> list[tuple[Product, list, list[list]]]:
    """Room type × board × rate plan sellable on every night with enough allotment, in one currency:
    (product, first night's raw rate, every night's raw rate)."""
    result = []
    for product, nights in stays.items():
        keyed = [{(r[_ROOM_TYPE], r[_BOARD], r[_PLAN]): r for r in rates} for rates in nights]
        rest = keyed[1:]
        for key, first in keyed[0].items():
            if first[_ALLOTMENT] < rooms:
                continue
            currency = first[_CURRENCY]
            chain = [first]
            for night in rest:
                rate = night.get(key)
                if rate is None or rate[_ALLOTMENT] < rooms or rate[_CURRENCY] != currency:
                    break
                chain.append(rate)
            else:
                result.append((product, first, chain))
    return result


def candidates(stays: dict[Product, list[list[list]]], rooms: int) -> list[Candidate]:
    return [Candidate(product, CachedRate.from_json(first), [Decimal(r[_AMOUNT]) for r in chain],
                      all(r[_REFUNDABLE] for r in chain))
            for product, first, chain in raw_candidates(stays, rooms)]


def cancellation_for(candidate: Candidate, rooms: int) -> list[dict]:
    """The supplier's rules (fee per room, net currency) for this many rooms, in net terms."""
    return cancellation_rules(candidate.first.cancellation, rooms)


def cancellation_rules(cancellation: list | None, rooms: int) -> list[dict]:
    rules = []
    for rule in cancellation or []:
        try:
            rules.append({"hours_before": int(rule["hours_before"]),
                          "fee": Decimal(str(rule["fee"])) * rooms, "currency": rule.get("currency")})
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
    return rules


def _uuid4_strings(count: int) -> list[str]:
    """`count` random version-4 UUIDs as text (what uuid.uuid4() gives, without building UUID objects)."""
    raw = bytearray(os.urandom(16 * count))
    out = []
    for start in range(0, 16 * count, 16):
        raw[start + 6] = (raw[start + 6] & 0x0F) | 0x40
        raw[start + 8] = (raw[start + 8] & 0x3F) | 0x80
        h = raw[start:start + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


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

    stays: dict[Product, list[list[list]]] = {}
    if products:
        if values is None:
            values = await redis.mget(hotcache.product_night_keys(products, nights))
        stays = hotcache.decode_raw_nights(values, products, nights)
    found = raw_candidates(stays, rooms)
    guests = request["adults"] + len(request.get("children_ages") or ())
    per_room = -(-guests // rooms)  # the fullest room of an even split
    if found:
        capacity = await room_capacity(pool, caches, {first[_ROOM_TYPE] for _, first, _ in found})
        found = [c for c in found if capacity.get(c[1][_ROOM_TYPE], 0) >= per_room]
    facts = await hotel_facts(pool, caches, {product.hotel_id for product, _, _ in found}) if found else {}
    rules = await caches.rules.rules(pool)
    fx = await caches.fx.table(pool)

    # Per candidate only the exact sell amount (to keep the cheapest supplier of each offer); the full
    # breakdown is built for the winners. Rules are resolved once per supplier/city/star, FX once per currency.
    best: dict[tuple, tuple] = {}
    memo: dict = {}
    fx_rates: dict[str, Decimal | None] = {}
    room_nights = len(nights) * rooms
    for product, first, chain in found:
        hotel = facts.get(product.hotel_id)
        if hotel is None:
            continue
        currency = first[_CURRENCY]
        if currency in fx_rates:
            rate = fx_rates[currency]
        else:
            try:
                rate = fx.rate(currency, sell_currency)
            except LookupError:
                rate = None  # no FX path for this supplier currency: not sellable in the asked currency
            fx_rates[currency] = rate
        if rate is None:
            continue
        rules_key = (product.supplier_code, hotel.city, hotel.star)
        applied = memo.get(rules_key)
        if applied is None:
            ctx = PricingContext(partner_id, partner.tier, product.supplier_code, hotel.city, hotel.star, check_in)
            applied = memo[rules_key] = rules_for(rules, ctx)
        nightly_net = [Decimal(r[_AMOUNT]) for r in chain]
        net = sum(nightly_net, Decimal(0)) * rooms
        try:
            platform, partner_markup = chain_of(applied, net, room_nights, currency, fx)
        except LookupError:
            continue  # a fixed markup in a currency without an FX path
        gross = net + platform + partner_markup
        sell_exact = gross * rate
        refundable = all(r[_REFUNDABLE] for r in chain)
        # One offer per hotel + room + board + refundability: the cheapest supplier's.
        key = (product.hotel_id, first[_ROOM_NAME].casefold(), first[_BOARD], refundable)
        current = best.get(key)
        if current is None or sell_exact < current[0]:
            best[key] = (sell_exact, product, first, nightly_net, refundable, applied, hotel, net, platform,
                         partner_markup, gross, rate)
    if request.get("currency") and not best and found:
        raise QuoteError(422, "currency_unavailable", f"no exchange rate into {sell_currency}")

    unit = exponent(sell_currency)
    # The one rounding place of the price chain (as in `pricing.breakdown_of`).
    ranked = sorted(((item[0].quantize(unit, rounding=ROUND_HALF_UP), item) for item in best.values()),
                    key=lambda pair: (pair[0], pair[1][1].hotel_id, pair[1][2][_ROOM_NAME]))[:MAX_OFFERS]
    quote_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    expires_at = now + QUOTE_TTL
    night_labels = [night.isoformat() for night in nights]
    offers_out = []
    rows: list[tuple] = []
    dumps = orjson.dumps
    for rank, (offer_id, (sell, item)) in enumerate(zip(_uuid4_strings(len(ranked)), ranked, strict=True)):
        (sell_exact, product, first, nightly_net, refundable, applied, hotel, net, platform, partner_markup, gross,
         rate) = item
        room_type_id, room_code, room_name, board, rate_plan, _, net_currency, _, _, rate_key, policy = first
        ratio = sell_exact / net if net else Decimal(0)
        nightly = [{"date": day, "price": {"amount": str((night_net * rooms * ratio).quantize(unit, ROUND_HALF_UP)),
                                           "currency": sell_currency}}
                   for day, night_net in zip(night_labels, nightly_net, strict=True)]
        policy_net = cancellation_rules(policy, rooms)
        policy_out = [{"hours_before": rule["hours_before"],
                       "fee": {"amount": str((min(rule["fee"], net) * ratio).quantize(unit, ROUND_HALF_UP)),
                               "currency": sell_currency}}
                      for rule in policy_net]
        sell_text = str(sell)
        offers_out.append({
            "offer_id": offer_id, "hotel_id": product.hotel_id, "hotel_name": hotel.name,
            "room_type": room_name, "board": board,
            "total_price": {"amount": sell_text, "currency": sell_currency},
            "nightly": nightly, "cancellation_policy": policy_out, "refundable": refundable,
        })
        stored = breakdown_json(net, net_currency, platform, applied[0], partner_markup, applied[1], gross,
                                rate, sell_exact, sell, sell_currency)
        stored["product"] = {"room_code": room_code, "rate_plan": rate_plan,
                             "nightly_net": [str(n) for n in nightly_net],
                             "nights": night_labels,
                             "supplier_policy": [{**r, "fee": str(r["fee"])} for r in policy_net]}
        stored["hotel_name"] = hotel.name
        rows.append((
            offer_id, quote_id, product.hotel_id, product.supplier_code, product.supplier_hotel_id,
            room_type_id, room_name, board, rate_key, check_in,
            check_out, rooms, net, net_currency, platform, partner_markup, rate, sell, sell_currency,
            dumps(stored).decode(), dumps(policy_out).decode(), refundable, rank,
        ))
    request_json = dumps(request).decode()  # dates as ISO strings
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
