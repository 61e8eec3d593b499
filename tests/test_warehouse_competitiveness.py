"""Price competitiveness as analysts read it: one room sold by two suppliers under different names and in
different currencies is one product, its nets compared in euros at the reference rate set of the night."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg

from core.db import plain_url
from warehouse.client import DATABASE, warehouse_client
from warehouse.loaders import FACTS, load_fact
from warehouse.reports import Filters, build_report
from warehouse.schema import apply_schema
from warehouse.sql_models import load_models, materialize

NIGHT = date(2004, 2, 10)  # nights no other test loads
EARLY = NIGHT - timedelta(days=9)  # older than every rate set of the test
HOTEL = "wh-cmp-hotel"
GROUP = f"{HOTEL}:room-deluxe-king"
CNY_BEFORE, CNY_AFTER = Decimal("7.80000000"), Decimal("8.00000000")


def _seed(conn: psycopg.Connection) -> None:
    """Supplier X sells 'Deluxe King' in EUR, Y '豪华大床房' in CNY and a room awaiting review in CNY, Z a room
    of its own name in USD, for which no rate set has a rate."""
    cur = conn.cursor()
    cur.execute("INSERT INTO master_hotels (id, name, city, country) VALUES (%s, 'Cmp Hotel', 'Faro', 'PT')",
                (HOTEL,))
    rooms: dict[str, int] = {}
    for supplier, room, name, group, status in [
            ("wh_cmp_x", "DK", "Deluxe King", GROUP, "machine"),
            ("wh_cmp_y", "HD", "豪华大床房", GROUP, "machine"),
            ("wh_cmp_y", "HX", "豪华房", GROUP, "pending_review"),
            ("wh_cmp_z", "DK", "Deluxe King", f"{HOTEL}:room-deluxe-king-z", "machine")]:
        cur.execute("INSERT INTO suppliers (code, name, protocol) VALUES (%s, %s, 'json') ON CONFLICT DO NOTHING",
                    (supplier, supplier))
        cur.execute("INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, city, country,"
                    " content_hash) VALUES (%s, %s, 'Cmp Hotel', 'Faro', 'PT', 'x')"
                    " ON CONFLICT (supplier_code, supplier_hotel_id) DO UPDATE SET name = EXCLUDED.name"
                    " RETURNING id", (supplier, f"{supplier}-1"))
        supplier_hotel = cur.fetchone()[0]
        cur.execute("INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, status, score,"
                    " content_hash) VALUES (%s, %s, 'auto', 'machine', 0.95, 'x')"
                    " ON CONFLICT (supplier_hotel) DO NOTHING", (supplier_hotel, HOTEL))
        cur.execute("INSERT INTO room_types (supplier_hotel, room_code, name) VALUES (%s, %s, %s) RETURNING id",
                    (supplier_hotel, room, name))
        rooms[f"{supplier}/{room}"] = room_type = cur.fetchone()[0]
        cur.execute("INSERT INTO room_mappings (room_type_id, master_hotel_id, supplier_code, supplier_hotel_id,"
                    " supplier_room_code, supplier_name, room_group, room_class, bed_type, name_en, score, decision,"
                    " status, input_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, 'deluxe', 'king', 'Deluxe King Room',"
                    " 0.9, 'auto', %s, 'x')",
                    (room_type, HOTEL, supplier, f"{supplier}-1", room, name, group, status))
    for night, prices in [(NIGHT, {"wh_cmp_x/DK": ("100.00", "EUR"), "wh_cmp_y/HD": ("820.00", "CNY"),
                                   "wh_cmp_y/HX": ("10.00", "CNY"), "wh_cmp_z/DK": ("90.00", "USD")}),
                          (EARLY, {"wh_cmp_x/DK": ("100.00", "EUR"), "wh_cmp_y/HD": ("770.00", "CNY")})]:
        for room, (amount, currency) in prices.items():
            cur.execute("INSERT INTO rates (room_type_id, stay_date, board, net_amount, currency)"
                        " VALUES (%s, %s, 'BB', %s, %s)", (rooms[room], night, Decimal(amount), currency))
    # the set in effect on NIGHT is the one of two days before (the next is newer than the night)
    for as_of, rate in [(NIGHT - timedelta(days=2), CNY_BEFORE), (NIGHT + timedelta(days=1), CNY_AFTER)]:
        cur.execute("INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of, source)"
                    " VALUES ('EUR', 'CNY', %s, %s, 'test')", (rate, as_of))


def _clean(conn: psycopg.Connection) -> None:
    conn.execute("DELETE FROM supplier_hotels WHERE supplier_code LIKE 'wh\\_cmp\\_%'")  # rooms, rates, mappings
    conn.execute("DELETE FROM master_hotels WHERE id = %s", (HOTEL,))
    conn.execute("DELETE FROM fx_rates WHERE source = 'test' AND as_of < '2005-01-01'")


def _eur(amount: str, rate: Decimal) -> Decimal:
    return (Decimal(amount) / rate).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def test_one_room_of_two_suppliers_in_two_currencies_is_compared_in_euros(migrated):
    with psycopg.connect(plain_url(migrated.database_url)) as conn:
        _clean(conn)  # what an interrupted run left
        _seed(conn)
    try:
        models = load_models()
        with warehouse_client(migrated.clickhouse_url) as client:
            apply_schema(client)
            for first in (EARLY, NIGHT):
                load_fact(client, migrated.database_url, FACTS["inventory"], first, first + timedelta(days=1))
                for name in ("price_competitiveness", "supplier_price_wins", "daily_sales"):  # the last: the
                    # reports' sign that the rollups were built
                    materialize(client, models[name], first, first + timedelta(days=1))
            rows = client.query(
                f"SELECT day, room_key, room_name, currency, suppliers, cheapest_supplier, cheapest_price, next_price,"
                f" lead_amount FROM {DATABASE}.price_competitiveness WHERE master_hotel_id = %(hotel)s"
                f" ORDER BY day, room_key, currency", parameters={"hotel": HOTEL}).result_rows
            report = build_report(client, "competitiveness", Filters(EARLY, NIGHT, city="Faro"))
    finally:
        with psycopg.connect(plain_url(migrated.database_url)) as conn:
            _clean(conn)

    y_night = _eur("820.00", CNY_BEFORE)  # 105.1282: X is cheapest
    y_early = _eur("770.00", CNY_BEFORE)  # 98.7179: before every set, the oldest set's rate; Y is cheapest
    assert [row[:8] for row in rows] == [
        (EARLY, GROUP, "Deluxe King Room", "EUR", 2, "wh_cmp_y", y_early, Decimal("100.0000")),
        (NIGHT, GROUP, "Deluxe King Room", "EUR", 2, "wh_cmp_x", Decimal("100.0000"), y_night),
        # no rate set has USD: compared only with itself, in its own currency
        (NIGHT, f"{HOTEL}:room-deluxe-king-z", "Deluxe King Room", "USD", 1, "wh_cmp_z", Decimal("90.0000"),
         Decimal("90.0000")),
        # the room awaiting review is a product of its own (keyed by its supplier's name), not a cheaper Y
        (NIGHT, "豪华房", "Deluxe King Room", "EUR", 1, "wh_cmp_y", _eur("10.00", CNY_BEFORE),
         _eur("10.00", CNY_BEFORE)),
    ]
    assert [row[8] for row in rows[:2]] == [Decimal(100) - y_early, y_night - Decimal(100)]

    wins = next(section for section in report.sections if section.table_id == "competitiveness-wins").rows
    assert [tuple(row[:3]) for row in wins] == [("wh_cmp_x", "EUR", 1), ("wh_cmp_y", "EUR", 1)]
    leads = next(section for section in report.sections if section.table_id == "competitiveness-leads").rows
    assert [(row[0], row[3], row[7], row[10]) for row in leads] == [
        (str(NIGHT), "Deluxe King Room", "wh_cmp_x", y_night - 100),
        (str(EARLY), "Deluxe King Room", "wh_cmp_y", 100 - y_early)]
