"""Quotes: priced offers for a city or a list of hotels, answered from the hot cache (no supplier call).

Cost per quote: the caller's Redis round trip (rate limit, and night values unless read less than
QUOTE_CACHE_MS ago), in-process cached pricing rules / FX / hotel facts / partner tier / decoded night
values, and one small row per quote, batched into a COPY off the request. The priced offers, with
every price step (the order needs the net rates, the partner sees only sell prices), are stored once
per offer set as one JSON array in a BYTEA, shared by every quote answered from them.
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
from core.hotcache import Product, normalise_city
from core.money import Money, exponent
from core.pricing import PricingContext, RulesCache, rules_for
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
    stays: _TtlMap = field(default_factory=lambda: _TtlMap(PRODUCT_SET_TTL_S))
    values_ttl_s: float = 0.0  # QUOTE_CACHE_MS: how long a stay's night values and priced offers are reused
    rooms: _TtlMap = field(default_factory=lambda: _TtlMap(FACTS_TTL_S))
    decoder: StayDecoder = field(default_factory=lambda: StayDecoder())
    writer: QuoteWriter | None = None

    def stay(self, keys: tuple, check_in: dt.date, check_out: dt.date, products: list[Product]) -> StayCache:
        """The cache entry of one product set and stay (its night keys built once). A product set read again
        (every PRODUCT_SET_TTL_S) keeps the entry while it lists the same products."""
        key = (keys, check_in, check_out)
        stay = self.stays.get(key)
        if stay is None or (stay.products is not products and stay.products != products):
            stay = StayCache(products, hotcache.product_night_keys(products, hotcache.nights_of(check_in, check_out)))
            self.stays.put(key, stay)
        return stay


@dataclass(slots=True)
class StayCache:
    """One product set and stay: its hot-cache keys, the values last read for them, and the offers priced from
    those values (per partner, currency and occupancy).

    Values are reused for `QuoteCaches.values_ttl_s` (QUOTE_CACHE_MS), so the same search repeated within that
    time reads Redis and prices once; every quote still gets its own ids, expiry and stored row. Reading the
    values again starts a new set of priced offers, so nothing priced from older values outlives them.
    """

    products: list[Product]
    keys: list[str]
    values: list | None = None
    read_at: float = 0.0
    priced: dict = field(default_factory=dict)

    def fresh(self, ttl_s: float) -> bool:
        return self.values is not None and time.monotonic() - self.read_at < ttl_s

    def store(self, values: list) -> None:
        self.values, self.read_at, self.priced = values, time.monotonic(), {}


QUOTE_COLUMNS = ("id", "partner_id", "request", "currency", "created_at", "expires_at", "offer_set")


@dataclass(slots=True)
class OfferSet:
    """Priced offers as stored: their JSON without offer ids (an offer's id is its quote's with rank + 1 in the
    last two bytes; the `quote_offers` view derives it). Every quote answered from the same priced offers names
    the same set, which is written once (migration 0007)."""

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
    if not sets:  # most batches: every set they name is stored already, and one COPY is atomic by itself
        await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)
        return
    async with conn.transaction():
        await conn.copy_records_to_table("quote_offer_sets", records=[(o.id, o.offers) for o in sets],
                                         columns=("id", "offers"))
        await conn.copy_records_to_table("quotes", records=quotes, columns=QUOTE_COLUMNS)


def caches_for(state) -> QuoteCaches:
    caches = getattr(state, "quote_caches", None)
    if caches is None:
        settings = state.settings
        values_ttl_s = settings.quote_cache_ms / 1000
        caches = QuoteCaches(fx=FxCache(settings.exchange_rate_cache_ttl, settings.default_currency),
                             stays=_TtlMap(max(PRODUCT_SET_TTL_S, values_ttl_s)), values_ttl_s=values_ttl_s)
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


# Positions in a cached rate list (the `CachedRate.to_json` layout), read raw on the quote path.
_ROOM_TYPE, _ROOM_CODE, _ROOM_NAME, _BOARD, _PLAN, _AMOUNT, _CURRENCY, _ALLOTMENT, _REFUNDABLE, _RATE_KEY, _POLICY = \
    range(11)


@dataclass(frozen=True, slots=True)
class StayRate:
    """One room type × board × rate plan of a supplier hotel, sellable on every night of a stay in one currency."""

    first: list  # the first night's raw rate (room, board, plan, policy, rate key)
    nightly_net: tuple[Decimal, ...]  # per room
    nightly_text: tuple[str, ...]  # the same, as stored
    net_per_room: Decimal
    allotment: int  # the smallest over the nights
    refundable: bool
    name_key: str  # the room name, casefolded (offers are one per hotel + room name + board + refundability)
    policies: dict = field(default_factory=dict)  # rooms → (supplier policy for that many rooms, its stored form)

    def policy(self, rooms: int) -> tuple[list[dict], list[dict]]:
        hit = self.policies.get(rooms)
        if hit is None:
            rules = cancellation_rules(self.first[_POLICY], rooms)
            hit = self.policies[rooms] = (rules, [{**rule, "fee": str(rule["fee"])} for rule in rules])
        return hit


class StayDecoder:
    """Hot-cache values → each product's `StayRate`s, memoised by the values' bytes.

    The memo is keyed by content, never by request: the same night values (what the sync wrote) give the
    same rates, and a value the sync rewrites is a new key. Popular hotels and dates are decoded once.
    """

    def __init__(self, size: int = 4096) -> None:  # a few KB per entry (its bytes and rates)
        self.size = size
        self.stays: dict[tuple, tuple[StayRate, ...]] = {}

    def stay(self, values: tuple[bytes, ...]) -> tuple[StayRate, ...]:
        hit = self.stays.get(values)
        if hit is None:
            hit = _join_nights([orjson.loads(value) for value in values])
            if len(self.stays) >= self.size:
                self.stays.clear()
            self.stays[values] = hit
        return hit


def _join_nights(nights: list[list[list]]) -> tuple[StayRate, ...]:
    keyed = [{(r[_ROOM_TYPE], r[_BOARD], r[_PLAN]): r for r in rates} for rates in nights]
    result = []
    for key, first in keyed[0].items():
        currency = first[_CURRENCY]
        chain = [first]
        for night in keyed[1:]:
            rate = night.get(key)
            if rate is None or rate[_CURRENCY] != currency:
                break
            chain.append(rate)
        else:
            nightly = tuple(Decimal(r[_AMOUNT]) for r in chain)
            result.append(StayRate(first, nightly, tuple(map(str, nightly)), sum(nightly, Decimal(0)),
                                   min(r[_ALLOTMENT] for r in chain), all(r[_REFUNDABLE] for r in chain),
                                   first[_ROOM_NAME].casefold()))
    return tuple(result)


def stays_of(decoder: StayDecoder, values: list[bytes | None], products: list[Product],
             nights: int) -> list[tuple[Product, tuple[StayRate, ...]]]:
    """MGET results (product-major, night-minor) → per product its sellable stay rates. A product missing
    any night is left out: it cannot be sold for the whole stay."""
    result = []
    for index, product in enumerate(products):
        chunk = tuple(values[index * nights:(index + 1) * nights])
        if None not in chunk:
            result.append((product, decoder.stay(chunk)))
    return result


def cancellation_rules(cancellation: list | None, rooms: int) -> list[dict]:
    """The supplier's rules (fee per room, net currency) for this many rooms, in net terms."""
    rules = []
    for rule in cancellation or []:
        try:
            rules.append({"hours_before": int(rule["hours_before"]),
                          "fee": Decimal(str(rule["fee"])) * rooms, "currency": rule.get("currency")})
        except (KeyError, TypeError, ValueError, ArithmeticError):
            continue
    return rules


def new_quote_id() -> tuple[uuid.UUID, str]:
    """A random quote id whose last two bytes are zero, and the text its offers' ids start with: an offer's id
    is the quote's with rank + 1 in those bytes (`offer_id_suffix`). An offer id names its quote (`quote_of_offer`),
    so an order finds it through the quote's key."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    raw[14] = raw[15] = 0
    head = raw[:14].hex()
    return uuid.UUID(bytes=bytes(raw)), f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-{head[20:]}"


def offer_id_suffix(rank: int) -> str:
    return f"{rank + 1:04x}"


def new_quote_ids(offers: int) -> tuple[uuid.UUID, list[str]]:
    """A new quote id and the ids of its `offers` offers."""
    quote_id, prefix = new_quote_id()
    return quote_id, [prefix + offer_id_suffix(rank) for rank in range(offers)]


def quote_of_offer(offer_id: uuid.UUID) -> uuid.UUID:
    return uuid.UUID(bytes=offer_id.bytes[:14] + b"\0\0")


@dataclass(slots=True)
class _Priced:
    sell_exact: Decimal
    product: Product
    rate: StayRate
    rules: tuple
    hotel: HotelFacts
    net: Decimal
    platform: Decimal
    partner: Decimal
    fx_rate: Decimal


def _monotone(rules: tuple) -> bool:
    """Whether a higher net always sells higher under these rules (every markup above -100 %)."""
    return all(rule is None or rule.markup_pct > -100 for rule in rules)


async def build_quote(pool, caches: QuoteCaches, *, partner_id: str, request: dict, products: list[Product],
                      default_currency: str, values: list | None = None, priced: dict | None = None) -> bytes:
    """Price every sellable offer for `products` and store the quote; returns the response body (JSON).

    `values` are the MGET results of `product_night_keys(products, nights)` (None when there are no products).
    `priced` (a `StayCache.priced` of those very values) keeps the priced offers for the next identical search.
    """
    check_in: dt.date = request["check_in"]
    check_out: dt.date = request["check_out"]
    rooms: int = request["rooms"]
    partner = await partner_facts(pool, caches, partner_id)
    sell_currency = request.get("currency") or partner.credit_currency or default_currency
    guests = request["adults"] + len(request.get("children_ages") or ())
    per_room = -(-guests // rooms)  # the fullest room of an even split
    rules = await caches.rules.rules(pool)
    fx = await caches.fx.table(pool)

    # Everything the offers depend on beyond the values and the stay (hotel facts and room capacities change
    # on their own TTLs, far longer than the values are kept). Rules and FX by identity: a reload is new.
    memo_key = (partner_id, partner.tier, request.get("currency"), sell_currency, rooms, per_room)
    hit = priced.get(memo_key) if priced is not None else None
    if hit is not None and hit[0] is rules and hit[1] is fx:
        tails, offer_set = hit[2], hit[3]
    else:
        shown, stored = await _priced_offers(pool, caches, partner_id, partner, request, products, values or [],
                                             sell_currency, per_room, rules, fx)
        # Each offer's JSON after its id's prefix, serialised once: a quote's offers are the quote's prefix
        # joined with these ('{"offer_id":"<prefix>' + '<rank>",' + the offer's JSON after its "{").
        tails = [offer_id_suffix(rank).encode() + b'",' + orjson.dumps(offer)[1:] for rank, offer in enumerate(shown)]
        offer_set = OfferSet(uuid.uuid4(), orjson.dumps(stored))
        if priced is not None:
            priced[memo_key] = (rules, fx, tails, offer_set)

    quote_id, prefix = new_quote_id()
    now = dt.datetime.now(dt.UTC)
    expires_at = now + QUOTE_TTL
    caches.writer.add((quote_id, uuid.UUID(partner_id), orjson.dumps(request).decode(), sell_currency, now,
                       expires_at, offer_set.id), offer_set)
    head = orjson.dumps({
        "quote_id": str(quote_id), "expires_at": expires_at.isoformat(), "check_in": check_in.isoformat(),
        "check_out": check_out.isoformat(), "rooms": rooms, "currency": sell_currency,
    })
    opening = b'{"offer_id":"' + prefix.encode()
    listed = opening + (b"," + opening).join(tails) if tails else b""
    return head[:-1] + b',"offers":[' + listed + b"]}"


async def _priced_offers(pool, caches: QuoteCaches, partner_id: str, partner: PartnerFacts, request: dict,
                         products: list[Product], values: list, sell_currency: str, per_room: int, rules: list,
                         fx) -> tuple[list[dict], list[dict]]:
    """The quote's offers, cheapest first, without their ids: (what the partner sees, what is stored)."""
    check_in: dt.date = request["check_in"]
    rooms: int = request["rooms"]
    nights = hotcache.nights_of(check_in, request["check_out"])
    stays = stays_of(caches.decoder, values, products, len(nights)) if products else []
    sellable = [(product, rate) for product, rates in stays for rate in rates if rate.allotment >= rooms]
    facts: dict[str, HotelFacts] = {}
    if sellable:
        capacity = await room_capacity(pool, caches, {rate.first[_ROOM_TYPE] for _, rate in sellable})
        sellable = [(p, rate) for p, rate in sellable if capacity.get(rate.first[_ROOM_TYPE], 0) >= per_room]
        facts = await hotel_facts(pool, caches, {product.hotel_id for product, _ in sellable})
    # Within one supplier hotel the rules are the same for every rate, and a markup chain with every
    # percentage above -100 % keeps the order of net prices: only the cheapest net of each offer key and
    # supplier needs pricing. The full chain runs for those; the cheapest sell per offer key wins.
    memo: dict = {}
    cheapest: dict[tuple, tuple[Product, StayRate, tuple, HotelFacts]] = {}
    for product, rate in sellable:
        hotel = facts.get(product.hotel_id)
        if hotel is None:
            continue
        rules_key = (product.supplier_code, hotel.city, hotel.star)
        hit = memo.get(rules_key)
        if hit is None:
            ctx = PricingContext(partner_id, partner.tier, product.supplier_code, hotel.city, hotel.star, check_in)
            applied = rules_for(rules, ctx)
            hit = memo[rules_key] = (applied, _monotone(applied))
        applied, monotone = hit
        key = (product.hotel_id, rate.name_key, rate.first[_BOARD], rate.refundable, product.supplier_code,
               rate.first[_CURRENCY], None if monotone else id(rate))
        current = cheapest.get(key)
        if current is None or rate.net_per_room < current[1].net_per_room:
            cheapest[key] = (product, rate, applied, hotel)

    best: dict[tuple, _Priced] = {}
    fx_rates: dict[str, Decimal | None] = {}
    room_nights = len(nights) * rooms
    for key, (product, rate, applied, hotel) in cheapest.items():
        currency = rate.first[_CURRENCY]
        if currency not in fx_rates:
            try:
                fx_rates[currency] = fx.rate(currency, sell_currency)
            except LookupError:
                fx_rates[currency] = None  # no FX path for this supplier currency: not sellable in it
        fx_rate = fx_rates[currency]
        if fx_rate is None:
            continue
        net = rate.net_per_room * rooms
        try:
            platform, partner_markup = chain_of(applied, net, room_nights, currency, fx)
        except LookupError:
            continue  # a fixed markup in a currency without an FX path
        sell_exact = (net + platform + partner_markup) * fx_rate
        offer_key = key[:4]
        current = best.get(offer_key)
        if current is None or sell_exact < current.sell_exact:
            best[offer_key] = _Priced(sell_exact, product, rate, applied, hotel, net, platform, partner_markup,
                                      fx_rate)
    if request.get("currency") and not best and sellable:
        raise QuoteError(422, "currency_unavailable", f"no exchange rate into {sell_currency}")

    unit = exponent(sell_currency)
    # The one rounding place of the price chain (as in `pricing.breakdown_of`).
    ranked = sorted(((item.sell_exact.quantize(unit, rounding=ROUND_HALF_UP), item) for item in best.values()),
                    key=lambda pair: (pair[0], pair[1].product.hotel_id, pair[1].rate.first[_ROOM_NAME]))[:MAX_OFFERS]
    night_labels = [night.isoformat() for night in nights]
    offers_out, stored = [], []
    for rank, (sell, item) in enumerate(ranked):
        first, net = item.rate.first, item.net
        ratio = item.sell_exact / net if net else Decimal(0)
        nightly = [{"date": day, "price": {"amount": str((night_net * rooms * ratio).quantize(unit, ROUND_HALF_UP)),
                                           "currency": sell_currency}}
                   for day, night_net in zip(night_labels, item.rate.nightly_net, strict=True)]
        policy_net, policy_stored = item.rate.policy(rooms)
        policy_out = [{"hours_before": rule["hours_before"],
                       "fee": {"amount": str((min(rule["fee"], net) * ratio).quantize(unit, ROUND_HALF_UP)),
                               "currency": sell_currency}}
                      for rule in policy_net]
        sell_text = str(sell)
        offers_out.append({
            "hotel_id": item.product.hotel_id, "hotel_name": item.hotel.name,
            "room_type": first[_ROOM_NAME], "board": first[_BOARD],
            "total_price": {"amount": sell_text, "currency": sell_currency},
            "nightly": nightly, "cancellation_policy": policy_out, "refundable": item.rate.refundable,
        })
        platform_rule, partner_rule = item.rules
        stored.append({  # the `quote_offers` view's element (migrations 0005, 0007): every step of the price chain
            "rank": rank, "hotel_id": item.product.hotel_id, "hotel_name": item.hotel.name,
            "supplier_code": item.product.supplier_code, "supplier_hotel_id": item.product.supplier_hotel_id,
            "room_type_id": first[_ROOM_TYPE], "room_type": first[_ROOM_NAME], "room_code": first[_ROOM_CODE],
            "board": first[_BOARD], "rate_plan": first[_PLAN], "rate_key": first[_RATE_KEY],
            "net_amount": str(net), "net_currency": first[_CURRENCY],
            "platform_markup": str(item.platform), "platform_rule_id": platform_rule.id if platform_rule else None,
            "partner_markup": str(item.partner), "partner_rule_id": partner_rule.id if partner_rule else None,
            "fx_rate": str(item.fx_rate), "sell_exact": str(item.sell_exact), "sell_amount": sell_text,
            "refundable": item.rate.refundable, "nightly_net": item.rate.nightly_text,
            "supplier_policy": policy_stored, "cancellation_policy": policy_out,
        })
    return offers_out, stored


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
