"""Writing the Redis hot cache (layout in `core/hotcache.py`) from PostgreSQL.

Only MAPPED supplier hotels are sold: a `hotel_mappings` row with a master hotel and either an
automatic decision (not rejected by a reviewer) or an accepted review. A refresh rewrites, per
supplier, its product sets and each supplier hotel's packed inventory over the window (a night with no
rate is written as none, so a vanished rate stops selling), and announces the products it wrote on the
changes stream. Product members that are no longer mapped are
removed (each supplier keeps an index hash `hc:idx:{supplier}` of what it wrote last time).
A supplier left out of `codes` is not touched: its previous good data keeps serving.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import psycopg
import redis

from core.hotcache import (
    PRODUCT_TTL_S,
    WRITER_LOCK_CLASS,
    InventoryBuilder,
    Product,
    RateRow,
    announce,
    city_key,
    hotel_key,
    write_inventory,
    write_products,
    writer_lock_name,
)
from core.money import minor_digits

MAPPED_SQL = """
SELECT sh.id, sh.supplier_hotel_id, m.master_hotel_id, mh.country, mh.city
FROM supplier_hotels sh
JOIN hotel_mappings m ON m.supplier_hotel = sh.id
JOIN master_hotels mh ON mh.id = m.master_hotel_id
WHERE sh.supplier_code = %s AND m.master_hotel_id IS NOT NULL
  AND ((m.decision = 'auto' AND m.status NOT IN ('rejected', 'marked_new')) OR m.status = 'accepted')
"""

NIGHTS_SQL = """
SELECT rt.supplier_hotel, r.stay_date, rt.id, rt.room_code, rt.name, rt.max_occupancy, r.board, r.rate_plan,
       r.net_amount, r.currency, greatest(COALESCE(a.allotment - a.held, 0), 0), r.refundable, r.rate_key,
       r.cancellation_policy
FROM room_types rt
JOIN rates r ON r.room_type_id = rt.id
LEFT JOIN availability a ON a.room_type_id = rt.id AND a.stay_date = r.stay_date
WHERE rt.supplier_hotel = ANY(%s) AND r.stay_date >= %s AND r.stay_date < %s
"""


def index_key(supplier_code: str) -> str:
    return f"hc:idx:{supplier_code}"


@dataclass
class CacheCounts:
    products: int = 0
    nights: int = 0
    rates: int = 0
    removed_products: int = 0


def refresh_supplier(conn: psycopg.Connection, client: redis.Redis, supplier_code: str, window_start: dt.date,
                     window_end: dt.date, chunk_hotels: int = 500) -> CacheCounts:
    counts = CacheCounts()
    mapped = conn.execute(MAPPED_SQL, (supplier_code,)).fetchall()
    products_by_city: dict[tuple[str, str], list[Product]] = defaultdict(list)
    index: dict[str, str] = {}
    for _, supplier_hotel_id, master_id, country, city in mapped:
        product = Product(master_id, supplier_code, supplier_hotel_id)
        products_by_city[(country, city)].append(product)
        index[product.member()] = city_key(country, city)
    for start in range(0, len(mapped), chunk_hotels):
        chunk = mapped[start:start + chunk_hotels]
        write_hotels(conn, client, supplier_code, {row[0]: row[1] for row in chunk}, window_start, window_end, counts)
    # Product sets: add what is mapped now, remove what this supplier wrote before and is no longer mapped.
    previous = {member.decode(): key.decode() for member, key in client.hgetall(index_key(supplier_code)).items()}
    pipe = client.pipeline(transaction=True)
    for member, key in previous.items():
        if index.get(member) != key:
            product = Product.parse(member)
            pipe.srem(key, member)
            pipe.srem(hotel_key(product.hotel_id), f"{product.supplier_code}|{product.supplier_hotel_id}")
            counts.removed_products += 1
    for (country, city), products in products_by_city.items():
        write_products(pipe, country, city, products)
        counts.products += len(products)
    pipe.delete(index_key(supplier_code))
    if index:
        pipe.hset(index_key(supplier_code), mapping=index)
    pipe.execute()
    return counts


def write_hotels(conn: psycopg.Connection, client: redis.Redis, supplier_code: str, hotels: dict[int, str],
                 window_start: dt.date, window_end: dt.date, counts: CacheCounts | None = None) -> CacheCounts:
    """Pack and write the inventory of these supplier hotels (database id → supplier hotel id) over the window,
    in one pipeline that also announces them on the changes stream."""
    counts = counts or CacheCounts()
    with conn.transaction():
        # The products' writer locks, held until the values are in Redis: an order's hold that commits meanwhile
        # sets its counts after this write, never before it (core/orders/holds.py).
        # In name order, as an order's transaction takes them (a volatile function runs after the sort).
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(name)) FROM unnest(%s::text[]) AS name "
                     "ORDER BY name COLLATE \"C\"",
                     (WRITER_LOCK_CLASS, sorted(writer_lock_name(supplier_code, h) for h in hotels.values())))
        _pack_and_write(conn, client, supplier_code, hotels, window_start, window_end, counts)
    return counts


def _pack_and_write(conn: psycopg.Connection, client: redis.Redis, supplier_code: str, hotels: dict[int, str],
                    window_start: dt.date, window_end: dt.date, counts: CacheCounts) -> None:
    nights = (window_end - window_start).days
    builders = {db_id: InventoryBuilder(window_start, nights) for db_id in hotels}
    for (supplier_hotel, stay_date, type_id, room_code, room_name, occupancy, board, plan, amount, currency, sellable,
         refundable, rate_key, policy) in conn.execute(NIGHTS_SQL, (list(hotels), window_start, window_end)):
        builder = builders[supplier_hotel]
        builder.allotment(type_id, occupancy, stay_date, sellable)
        minor = amount.scaleb(minor_digits(currency))
        builder.rate(RateRow(type_id, room_code, room_name, board, plan, currency, rate_key), occupancy, stay_date,
                     int(minor.to_integral_value()), refundable, policy)
        counts.rates += 1
    pipe = client.pipeline(transaction=False)
    for db_id, builder in builders.items():
        write_inventory(pipe, supplier_code, hotels[db_id], builder.encode(), ttl_s=PRODUCT_TTL_S)
        counts.nights += nights
    announce(pipe, [f"{supplier_code}|{supplier_hotel_id}" for supplier_hotel_id in hotels.values()])
    pipe.execute()


def write_mapped_hotels(conn: psycopg.Connection, client: redis.Redis, supplier_code: str,
                        supplier_hotel_ids: list[str], window_start: dt.date, window_end: dt.date) -> CacheCounts:
    """Write some mapped supplier hotels into the hot cache (their inventory and their product-set members), as
    a refresh of their supplier writes them, without rewriting the supplier's others."""
    wanted = set(supplier_hotel_ids)
    mapped = [row for row in conn.execute(MAPPED_SQL, (supplier_code,)).fetchall() if row[1] in wanted]
    counts = write_hotels(conn, client, supplier_code, {row[0]: row[1] for row in mapped}, window_start, window_end)
    pipe = client.pipeline(transaction=False)
    for _, supplier_hotel_id, master_id, country, city in mapped:
        write_products(pipe, country, city, [Product(master_id, supplier_code, supplier_hotel_id)])
        counts.products += 1
    pipe.execute()
    return counts
