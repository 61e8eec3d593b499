"""The world `hotelctl bench api` quotes from, seeded into its scratch database and its private Redis.

PostgreSQL gets what a synced, matched platform holds: suppliers A, B and C, the master hotels they sell,
their supplier hotels mapped onto them (automatic decisions), room types, rates and availability over the
window (through the sync's own write path, `core.inventory.store`), exchange rates so CNY, USD and EUR
convert, pricing rules (a platform rule, a supplier-specific platform rule, tier rules for 'standard' and
'premium' partners, one partner's own rule) and the partners (`core.partners.create_partner`). The Redis hot
cache is then filled only the platform's own way: `core.inventory.cache.refresh_supplier` per supplier.

Prices come from the simulated suppliers' rate book, so supplier A's simulator (which takes the orders)
rechecks at the prices the quotes show. One hotel (the order hotel) is sold by supplier A alone, so the
order-latency part can quote offers that are certainly supplier A's.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from decimal import Decimal

from bench.workload import City

SUPPLIERS = ("A", "B", "C")
CREDIT_LIMIT = Decimal("1000000000")
ORDER_UNITS = 100_000  # allotment of every open room-night: many orders in the benchmark, none oversold
BATCH_HOTELS = 100


@dataclass(frozen=True)
class Partner:
    name: str
    tier: str
    currency: str  # credit currency: what a search without `currency` sells in
    rule: str  # the partner-level rule that prices its offers
    client_id: str = ""
    client_secret: str = ""


PARTNERS = (
    Partner("Bench Standard Travel", "standard", "CNY", "tier 'standard' +5 %"),
    Partner("Bench Premium Travel", "premium", "USD", "tier 'premium' +3 % and CNY 5 per room-night"),
    Partner("Bench Contract Travel", "standard", "EUR", "its own rule +2 % (over the tier rule)"),
)


@dataclass
class Seeded:
    cities: list[City]
    partners: list[Partner]
    order_hotel_id: str
    window_start: dt.date
    window_end: dt.date
    supplier_hotels: dict[str, int] = field(default_factory=dict)
    rates: int = 0
    cache_nights: int = 0
    rooms: object = None  # the room mapping run's summary (core.rooms.store.RoomMappingSummary)

    def summary(self) -> str:
        hotels = sum(len(city.hotel_ids) for city in self.cities)
        per_supplier = ", ".join(f"{code} {count}" for code, count in self.supplier_hotels.items())
        return (f"{hotels} master hotels in {len(self.cities)} cities, supplier hotels {per_supplier}; "
                f"{self.rates} rates over {self.window_start} – {self.window_end - dt.timedelta(days=1)}; "
                f"hot cache: {self.cache_nights} hotel-nights (refresh_supplier); room mapping: {self.rooms.rooms} "
                f"rooms in {self.rooms.groups} products, {self.rooms.multi_supplier_groups} sold by several "
                f"suppliers")


def seed_world(database_url: str, redis_url: str, world, supplier_a_url: str, start: dt.date, days: int) -> Seeded:
    import redis

    from core.db import engine_for
    from core.inventory.cache import refresh_supplier
    from core.inventory.store import connect
    from core.rooms.store import run_room_mapping
    from suppliers.rates import CNY_PER, RateBook

    end = start + dt.timedelta(days=days)
    masters = {m.hotel_id: m for m in world.master_hotels}
    order_hotel = next(h.true_hotel_id for h in world.supplier_hotels["A"] if h.true_hotel_id)
    sold = {code: [h for h in world.supplier_hotels.get(code, []) if h.true_hotel_id in masters
                   and (code == "A" or h.true_hotel_id != order_hotel)] for code in SUPPLIERS}
    sold_masters = sorted({h.true_hotel_id for hotels in sold.values() for h in hotels})
    book = RateBook(world)
    seeded = Seeded([], [], order_hotel, start, end)
    with connect(database_url, bulk=True) as conn:
        _reference_data(conn, supplier_a_url, CNY_PER)
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(
                "COPY master_hotels (id, name, name_local, address, city, country, lat, lon, star, phone, brand)"
                " FROM STDIN") as copy:
            for hotel_id in sold_masters:
                m = masters[hotel_id]
                copy.write_row((m.hotel_id, m.name, m.name_local, m.address, m.city, m.country, round(m.lat, 6),
                                round(m.lon, 6), m.star, m.phone, m.brand))
        for code in SUPPLIERS:
            seeded.supplier_hotels[code] = len(sold[code])
            seeded.rates += _supplier(conn, code, sold[code], book, start, end)
        client = redis.Redis.from_url(redis_url)
        try:
            for code in SUPPLIERS:
                seeded.cache_nights += refresh_supplier(conn, client, code, start, end).nights
        finally:
            client.close()
    by_city: dict[tuple[str, str], list[str]] = {}
    for hotel_id in sold_masters:
        by_city.setdefault((masters[hotel_id].country, masters[hotel_id].city), []).append(hotel_id)
    seeded.cities = [City(country, name, tuple(ids)) for (country, name), ids in sorted(by_city.items())]
    engine = engine_for(database_url)
    seeded.rooms = run_room_mapping(engine)  # quotes group offers by room product, as in production
    seeded.partners = _partners(engine)
    return seeded


def _reference_data(conn, supplier_a_url: str, cny_per: dict[str, Decimal]) -> None:
    from core.suppliers.config import NAMES, PROTOCOLS

    with conn.transaction():
        for code in SUPPLIERS:
            conn.execute("INSERT INTO suppliers (code, name, protocol, base_url) VALUES (%s, %s, %s, %s)"
                         " ON CONFLICT (code) DO UPDATE SET base_url = EXCLUDED.base_url",
                         (code, NAMES[code], PROTOCOLS[code], supplier_a_url if code == "A" else None))
        for currency, rate in cny_per.items():
            if currency != "CNY":
                conn.execute("INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of)"
                             " VALUES (%s, 'CNY', %s, current_date)", (currency, rate))
        conn.execute("INSERT INTO pricing_rules (level, markup_pct, priority) VALUES ('platform', 8, 0)")
        conn.execute("INSERT INTO pricing_rules (level, supplier_code, markup_pct, priority)"
                     " VALUES ('platform', 'C', 6, 1)")
        conn.execute("INSERT INTO pricing_rules (level, partner_tier, markup_pct, priority)"
                     " VALUES ('partner', 'standard', 5, 0)")
        conn.execute("INSERT INTO pricing_rules (level, partner_tier, markup_pct, markup_fixed, fixed_currency,"
                     " priority) VALUES ('partner', 'premium', 3, 5, 'CNY', 0)")
        conn.execute("INSERT INTO platform_config (key, value, env) VALUES ('orders.velocity',"
                     " '{\"per_minute\": 100000, \"per_hour\": 1000000}', %s)"
                     " ON CONFLICT (key, env) DO UPDATE SET value = EXCLUDED.value",
                     (os.environ.get("HOTEL_ENV", "production"),))


def _supplier(conn, code: str, hotels: list, book, start: dt.date, end: dt.date) -> int:
    """Content, mappings and inventory of one supplier's sold hotels; returns the rates written."""
    from core.inventory.store import supplier_hotel_ids, upsert_supplier_hotels, write_inventory
    from core.money import Money
    from core.suppliers.models import CancellationRule, NightlyRate, SupplierHotel

    upsert_supplier_hotels(conn, code, [
        SupplierHotel(code, h.supplier_hotel_id, h.name, h.address, h.city, h.country, h.lat, h.lon, h.star, h.phone)
        for h in hotels])
    ids = supplier_hotel_ids(conn, code)
    with conn.transaction(), conn.cursor() as cursor, cursor.copy(
            "COPY hotel_mappings (supplier_hotel, master_hotel_id, decision, score, content_hash) FROM STDIN") as copy:
        for h in hotels:
            copy.write_row((ids[h.supplier_hotel_id], h.true_hotel_id, "auto", Decimal("0.99"), "bench"))
    written = 0
    for first in range(0, len(hotels), BATCH_HOTELS):
        rates = []
        for h in hotels[first:first + BATCH_HOTELS]:
            for rate in book.stay(h, start, end):
                net = Money(rate.amount, rate.currency)
                rates.append(NightlyRate(
                    code, h.supplier_hotel_id, rate.room_code, rate.room_name, rate.board, rate.rate_plan,
                    rate.stay_date, net, ORDER_UNITS if rate.allotment > 0 else 0, rate.refundable,
                    max_occupancy=rate.max_occupancy,
                    cancellation=(CancellationRule(72, net),) if rate.refundable else ()))
        written += write_inventory(conn, rates, ids).rates
    return written


def _partners(engine) -> list[Partner]:
    """The partners and their credentials; the last one also gets a rule of its own."""
    import sqlalchemy as sa

    from core.partners import create_partner

    partners = []
    for index, partner in enumerate(PARTNERS):
        credentials = create_partner(engine, partner.name, tier=partner.tier, credit_limit=CREDIT_LIMIT,
                                     currency=partner.currency)
        if index == len(PARTNERS) - 1:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_id, markup_pct, priority)"
                                     " VALUES ('partner', :p, 2, 10)"), {"p": credentials.partner_id})
        partners.append(Partner(partner.name, partner.tier, partner.currency, partner.rule, credentials.client_id,
                                credentials.client_secret))
    return partners
