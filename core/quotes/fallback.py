"""Quotes while Redis is down: the shelf the engine prices from, built from PostgreSQL (the inventory's truth).

The hot cache is a copy of PostgreSQL written by `core.inventory.cache`; this module builds the same values
from the same queries (its `MAPPED_SQL` for what is sold, its `NIGHTS_SQL` for rates and sellable counts), only
over the stay's nights and for the search's products, and packs them with the same `InventoryBuilder`. So a
quote priced from here shows what the hot cache would have shown, slower: a few queries per quote instead of
none. `service.answer_quote` calls `database_shelf` when reading Redis fails; the route then says so in the
`X-Quote-Source: database` response header (`answered_from_database`).
"""

from __future__ import annotations

import datetime as dt
import re
from contextvars import ContextVar

import orjson

from core.hotcache import InventoryBuilder, Product, RateRow, decode_inventory, normalise_city
from core.inventory.cache import MAPPED_SQL, NIGHTS_SQL
from core.money import minor_digits
from core.quotes.caches import QuoteCaches, hotel_facts, room_names
from core.quotes.shelf import Shelf, build_shelf

SOURCE_HEADER = "X-Quote-Source"
_from_database: ContextVar[bool] = ContextVar("quote_from_database", default=False)


def _numbered(sql: str) -> str:
    """psycopg's `%s` placeholders as asyncpg's `$1, $2, …`."""
    counter = iter(range(1, sql.count("%s") + 1))
    return re.sub("%s", lambda _: f"${next(counter)}", sql)


_MAPPED = _numbered(MAPPED_SQL)
_NIGHTS = _numbered(NIGHTS_SQL)


def answered_from_database() -> bool:
    """Whether this request's quote was priced from PostgreSQL (Redis unavailable)."""
    return _from_database.get()


async def database_shelf(state, caches: QuoteCaches, request: dict) -> Shelf:
    """The search's products and their values over the stay, read from PostgreSQL, stacked as the engine's shelf
    (never kept: the replica holds only what Redis said)."""
    _from_database.set(True)
    check_in: dt.date = request["check_in"]
    check_out: dt.date = request["check_out"]
    async with state.pg.acquire() as conn:
        products = [(database_id, product) for database_id, product in await _products(conn, request)
                    if product.supplier_code not in caches.disabled_suppliers]
        values = await _values(conn, products, check_in, (check_out - check_in).days)
    inventories = [values.get(database_id) for database_id, _ in products]
    listed = [product for _, product in products]
    hotel_ids = {product.hotel_id for product in listed}
    facts = await hotel_facts(state.pg, caches, hotel_ids) if listed else {}
    rooms = await room_names(state.pg, caches, hotel_ids) if listed else {}  # offers grouped by room product
    return build_shelf(listed, inventories, facts, rooms)


async def _products(conn, request: dict) -> list[tuple[int, Product]]:
    """The sold products a city or hotels search covers (what the hot cache's product sets hold), with each
    supplier hotel's database id, in the order the engine lists them."""
    city, hotel_ids, country = request.get("city"), request.get("hotel_ids"), request.get("country")
    wanted_city = normalise_city(city) if city is not None else None
    wanted_hotels = set(hotel_ids or ())
    found: dict[Product, int] = {}
    for (supplier_code,) in await conn.fetch("SELECT code FROM suppliers ORDER BY code"):
        for database_id, supplier_hotel_id, master_id, hotel_country, hotel_city in await conn.fetch(
                _MAPPED, supplier_code):
            if hotel_ids is not None:
                chosen = master_id in wanted_hotels
            else:
                chosen = normalise_city(hotel_city) == wanted_city and (country is None or
                                                                        hotel_country == country.upper())
            if chosen:
                found[Product(master_id, supplier_code, supplier_hotel_id)] = database_id
    ordered = sorted(found, key=lambda p: (p.hotel_id, p.supplier_code, p.supplier_hotel_id))
    return [(found[product], product) for product in ordered]


async def _values(conn, products: list[tuple[int, Product]], first_night: dt.date, nights: int) -> dict:
    """Each supplier hotel's value over the stay, packed and decoded exactly as the hot cache's."""
    if not products:
        return {}
    builders: dict[int, InventoryBuilder] = {}
    rows = await conn.fetch(_NIGHTS, [database_id for database_id, _ in products], first_night,
                            first_night + dt.timedelta(days=nights))
    for (supplier_hotel, stay_date, type_id, room_code, room_name, occupancy, board, plan, amount, currency,
         allotment, refundable, rate_key, policy) in rows:
        builder = builders.get(supplier_hotel)
        if builder is None:
            builder = builders[supplier_hotel] = InventoryBuilder(first_night, nights)
        builder.allotment(type_id, occupancy, stay_date, allotment)
        minor = amount.scaleb(minor_digits(currency))
        builder.rate(RateRow(type_id, room_code, room_name, board, plan, currency, rate_key), occupancy, stay_date,
                     int(minor.to_integral_value()), refundable, _policy(policy))
    return {database_id: decode_inventory(builder.encode()) for database_id, builder in builders.items()}


def _policy(value):
    """asyncpg returns JSONB as its text; psycopg (the cache writer) as parsed JSON."""
    return orjson.loads(value) if isinstance(value, str) else value
