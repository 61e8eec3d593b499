"""The per-process state the quote path reads instead of PostgreSQL and Redis on every request.

Each cache counts its lookups in `quote_cache_lookups_total{cache=…}` (hits and misses), so a benchmark can
print every hit rate on the path: `memo` (QUOTE_CACHE_MS: priced offers of one search), `inventory` (the
replica of the hot cache's product values, per product), `product_sets` (a city's or hotel's products, read
again every PRODUCT_SET_TTL_S), `hotels` (hotel facts), `partners` (tier and status), `rooms` (room mappings
per hotel), `price_classes` (each price class's chain, `ClassMemo`).

Rules and rates are dropped as soon as PostgreSQL notifies a change to them (`core.quotes.invalidation`),
so a rule or rate change prices the next quote; their TTLs only bound staleness when no one listens.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg

from core import hotcache
from core.db import plain_url
from core.fx import FxCache
from core.hotcache import Product, normalise_city
from core.metrics import CacheLookups
from core.pricing import RulesCache
from core.quotes.invalidation import PricingFollower
from core.quotes.replica import InventoryReplica
from core.quotes.store import QuoteWriter

FACTS_TTL_S = 300.0
ROOMS_CHECK_S = 2.0  # an operator's room decision reaches quotes at most this much later
RELIABILITY_TTL_S = 60.0
RELIABILITY_WINDOW_DAYS = 30
PARTNER_TTL_S = 30.0
PRODUCT_SET_TTL_S = 2.0  # a hotel the sync adds is quoted at most this much later
SUPPLIERS_TTL_S = 30.0  # bounds how stale the disabled-supplier set is when no change notification arrives


class QuoteError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def detail(self) -> dict:
        """The error body's detail: code, message and, for a field of the request, that field and the reason."""
        fields = {"fields": [{"field": self.field, "reason": self.message}]} if self.field else {}
        return {"code": self.code, "message": self.message, **fields}


class TtlMap:
    def __init__(self, ttl_s: float, name: str | None = None, size: int = 50_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self.items: dict = {}
        self.lookups = CacheLookups(name) if name else None

    def get(self, key):
        hit = self.items.get(key)
        value = None if hit is None or time.monotonic() - hit[1] >= self.ttl_s else hit[0]
        if self.lookups is not None:
            self.lookups.count(value is not None, value is None)
        return value

    def put(self, key, value) -> None:
        if len(self.items) >= self.size:
            self.items.clear()
        self.items[key] = (value, time.monotonic())


@dataclass(frozen=True, slots=True)
class HotelFacts:
    name: str
    city: str  # normalised
    country: str
    star: Decimal | None


class ClassMemo:
    """What each price class's chain is, kept across quotes while the rules and the FX table are the same objects
    (`core.quotes.offers._price_class`): the rules that apply to a class for a partner and tier (and check-in,
    where a rule has dates), and the chain's forms for those rules, currencies and, where a rule has a fixed
    markup, the stay's room-nights. Counted as `price_classes`."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self.lookups = CacheLookups("price_classes")
        self.applied: dict = {}
        self.priced: dict = {}
        self.dated = False
        self._inputs: tuple = (None, None)

    def refresh(self, rules: list, fx) -> ClassMemo:
        if self._inputs[0] is not rules or self._inputs[1] is not fx:
            self._inputs = (rules, fx)  # held: the rules' ids in `priced` keys stay theirs
            self.dated = any(rule.date_from is not None or rule.date_to is not None for rule in rules)
            self.applied.clear()
            self.priced.clear()
        for table in (self.applied, self.priced):
            if len(table) >= self.size:
                table.clear()
        return self


@dataclass(frozen=True, slots=True)
class RoomName:
    """A supplier room as partners see it (`room_mappings`)."""

    group: str | None  # its room group; None while its grouping awaits review (a product of its own)
    name_en: str


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    tier: str
    status: str
    credit_currency: str


@dataclass
class QuoteCaches:
    """Per-process caches the quote path reads instead of PostgreSQL and Redis on every request."""

    fx: FxCache
    replica: InventoryReplica
    rules: RulesCache = field(default_factory=RulesCache)
    hotels: TtlMap = field(default_factory=lambda: TtlMap(FACTS_TTL_S, "hotels"))
    partners: TtlMap = field(default_factory=lambda: TtlMap(PARTNER_TTL_S, "partners"))
    cities: TtlMap = field(default_factory=lambda: TtlMap(FACTS_TTL_S))
    product_sets: TtlMap = field(default_factory=lambda: TtlMap(PRODUCT_SET_TTL_S, "product_sets"))
    rooms: TtlMap = field(default_factory=lambda: TtlMap(FACTS_TTL_S, "rooms"))  # per hotel: its RoomNames
    rooms_epoch: int = 0  # one more each time `room_mappings` changed (shelves built before are rebuilt)
    rooms_stamp: tuple | None = None
    rooms_checked: float = float("-inf")
    reliability: TtlMap = field(default_factory=lambda: TtlMap(RELIABILITY_TTL_S))
    classes: ClassMemo = field(default_factory=ClassMemo)
    memo_ttl_s: float = 0.0  # QUOTE_CACHE_MS: how long the offers priced for one search are reused
    memo: CacheLookups = field(default_factory=lambda: CacheLookups("memo"))
    memo_items: OrderedDict = field(default_factory=OrderedDict)  # (shelf serial, search) → offers, oldest first
    writer: QuoteWriter | None = None
    follower: PricingFollower | None = None  # drops `rules` and `fx` on a change in PostgreSQL
    disabled_suppliers: frozenset = frozenset()  # suppliers an operator disabled: their offers are never quoted
    suppliers_stale: bool = True  # set by the follower when `suppliers` changed
    suppliers_version: int = 0  # one more on every change to `suppliers` (cached booking adapters are rebuilt)
    suppliers_checked: float = float("-inf")


def caches_for(state) -> QuoteCaches:
    caches = getattr(state, "quote_caches", None)
    if caches is None:
        settings = state.settings
        caches = QuoteCaches(fx=FxCache(settings.exchange_rate_cache_ttl, settings.default_currency,
                                             settings.fx_max_age_days),
                             replica=InventoryReplica(state.redis, enabled=settings.hot_cache_replica),
                             memo_ttl_s=settings.quote_cache_ms / 1000)
        endpoints = getattr(state, "endpoints", None)
        dsn = plain_url(endpoints.database_url) if endpoints is not None else None
        caches.writer = QuoteWriter(state.pg, dsn, settings.query_timeout_ms / 1000)
        if dsn is not None:
            caches.follower = PricingFollower(dsn, caches)
        state.quote_caches = caches
    return caches


async def open_quotes(state) -> None:
    """App start: the quote caches, following the hot cache's changes stream and pricing changes."""
    caches = caches_for(state)
    await caches.replica.start()
    if caches.follower is not None:
        caches.follower.start()


async def close_quotes(state) -> None:
    """App shutdown: stop following the changes stream, store the pending batch, close the writer."""
    caches = getattr(state, "quote_caches", None)
    if caches is not None:
        await caches.replica.stop()
        if caches.follower is not None:
            await caches.follower.stop()
        if caches.writer is not None:
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


async def disabled_suppliers(pool, caches: QuoteCaches) -> frozenset:
    """The suppliers not to quote: read again only after a change notification (or SUPPLIERS_TTL_S), so the
    steady state costs no round trip; a change drops every product set, which were filtered by the old set."""
    now = time.monotonic()
    if caches.suppliers_stale or now - caches.suppliers_checked >= SUPPLIERS_TTL_S:
        caches.suppliers_stale = False
        caches.suppliers_checked = now
        try:
            async with pool.acquire() as conn:
                rows = await conn.fetch("SELECT code FROM suppliers WHERE NOT enabled")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            # PostgreSQL down: quotes go on from the caches with the set last read; try again in a second.
            caches.suppliers_checked = now - SUPPLIERS_TTL_S + 1.0
            return caches.disabled_suppliers
        disabled = frozenset(row["code"] for row in rows)
        if disabled != caches.disabled_suppliers:
            caches.disabled_suppliers = disabled
            caches.product_sets.items.clear()
    return caches.disabled_suppliers


async def hotel_facts(pool, caches: QuoteCaches, hotel_ids: set[str]) -> dict[str, HotelFacts]:
    found, missing = {}, []
    for hotel_id in hotel_ids:
        value = caches.hotels.get(hotel_id)
        if value is None:
            missing.append(hotel_id)
        else:
            found[hotel_id] = value
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
        table, _ = await _load_cities(pool, caches)
    return sorted(table.get(normalise_city(city), ()))


async def city_names(pool, caches: QuoteCaches) -> dict[str, str]:
    """Each city's normalised name → a name it is written with in the master hotels (for suggestions)."""
    names = caches.cities.get("names")
    if names is None:
        _, names = await _load_cities(pool, caches)
    return names


async def _load_cities(pool, caches: QuoteCaches) -> tuple[dict[str, set[str]], dict[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT DISTINCT city, country FROM master_hotels ORDER BY city")
    table: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for row in rows:
        table.setdefault(normalise_city(row["city"]), set()).add(row["country"])
        names.setdefault(normalise_city(row["city"]), row["city"])
    caches.cities.put("all", table)
    caches.cities.put("names", names)
    return table, names


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


async def room_epoch(pool, caches: QuoteCaches) -> int:
    """The room mappings' epoch, checked every ROOMS_CHECK_S (a count and the latest change)."""
    now = time.monotonic()
    if now - caches.rooms_checked >= ROOMS_CHECK_S:
        caches.rooms_checked = now
        async with pool.acquire() as conn:
            stamp = tuple(await conn.fetchrow("SELECT count(*), max(updated_at) FROM room_mappings"))
        if stamp != caches.rooms_stamp:
            caches.rooms_epoch += caches.rooms_stamp is not None
            caches.rooms_stamp = stamp
            caches.rooms.items.clear()
    return caches.rooms_epoch


async def room_names(pool, caches: QuoteCaches, hotel_ids: set[str]) -> dict[int, RoomName]:
    """The mapped rooms of these hotels, by room type id."""
    found: dict[int, RoomName] = {}
    missing = []
    for hotel_id in hotel_ids:
        names = caches.rooms.get(hotel_id)
        if names is None:
            missing.append(hotel_id)
        else:
            found.update(names)
    if missing:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT master_hotel_id, room_type_id, room_group, name_en, status FROM room_mappings"
                " WHERE master_hotel_id = ANY($1::text[])", missing)
        per_hotel: dict[str, dict[int, RoomName]] = {hotel_id: {} for hotel_id in missing}
        for row in rows:
            group = None if row["status"] == "pending_review" else row["room_group"]
            per_hotel[row["master_hotel_id"]][row["room_type_id"]] = RoomName(group, row["name_en"])
        for hotel_id, names in per_hotel.items():
            caches.rooms.put(hotel_id, names)
            found.update(names)
    return found


async def supplier_reliability(pool, caches: QuoteCaches) -> dict[str, float]:
    """Each supplier's reliability, 0..1, measured over the trailing RELIABILITY_WINDOW_DAYS: the share of its
    orders that did not fail and the share of its sync runs that succeeded (their mean where it has both); a
    supplier with neither keeps its configured `suppliers.reliability`."""
    table = caches.reliability.get("all")
    if table is None:
        async with pool.acquire() as conn:
            rows = await conn.fetch("""
SELECT s.code, s.reliability,
       (SELECT avg(CASE WHEN o.status = 'FAILED' THEN 0 ELSE 1 END) FROM orders o
        WHERE o.supplier_code = s.code AND o.status <> 'PENDING' AND o.created_at > now() - make_interval(days => $1)),
       (SELECT avg(CASE WHEN r.status = 'ok' THEN 1 WHEN r.status = 'partial' THEN 0.5 ELSE 0 END)
        FROM supplier_sync_runs r WHERE r.supplier_code = s.code AND r.started_at > now() - make_interval(days => $1))
FROM suppliers s""", RELIABILITY_WINDOW_DAYS)
        table = {}
        for code, configured, orders, syncs in rows:
            measured = [float(value) for value in (orders, syncs) if value is not None]
            table[code] = sum(measured) / len(measured) if measured else float(configured)
        caches.reliability.put("all", table)
    return table
