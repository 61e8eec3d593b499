"""Operational history written straight into PostgreSQL's tables (the schema of 0001_initial), for the
warehouse's tests and `hotelctl bench backfill`.

Codes are prefixed `wh` so the rows never meet other areas' data: suppliers wh_alpha, wh_beta and wh_gamma,
four master hotels in Lisbon and Porto (the last supplier's fourth hotel unmatched), two partners.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg

from core.db import plain_url
from core.quotes.ids import new_quote_ids

SUPPLIERS = ["wh_alpha", "wh_beta", "wh_gamma"]
CITIES = ["Lisbon", "Porto"]
STATUSES = ["CONFIRMED"] * 6 + ["CANCELLED"] * 2 + ["FAILED", "EXPIRED", "PENDING"]


@dataclass(frozen=True)
class Seeded:
    start: date
    end: date  # exclusive
    partner_ids: list[str]
    partner_names: list[str]


def _at(day: date, rng: random.Random) -> datetime:
    # Hours 0 and 23 included on purpose: rows near midnight must land in the right day.
    return datetime(day.year, day.month, day.day, rng.choice([0, 5, 12, 18, 23]), rng.randint(0, 59), tzinfo=UTC)


def seed_history(database_url: str, start: date, days: int, seed: int = 7, scale: int = 1) -> Seeded:
    """`days` days of history from `start`: each day `scale` times 2-5 quotes (60 % ordered, in every status)
    and 3-8 supplier calls; rates for every night; weekly settlement cycles of three lines per supplier."""
    rng = random.Random(seed)
    with psycopg.connect(plain_url(database_url), autocommit=False) as conn:
        cur = conn.cursor()
        for code in SUPPLIERS:
            cur.execute("INSERT INTO suppliers (code, name, protocol) VALUES (%s, %s, 'json') ON CONFLICT DO NOTHING",
                        (code, code.title()))
        hotels = [f"wh-hotel-{n}" for n in range(4)]
        for n, hotel in enumerate(hotels):
            cur.execute("INSERT INTO master_hotels (id, name, city, country) VALUES (%s, %s, %s, 'PT')",
                        (hotel, f"Hotel {n}", CITIES[n % 2]))
        rooms: list[tuple[int, str, str, str]] = []  # (room_type_id, hotel, supplier, room name)
        for supplier in SUPPLIERS:
            for n, hotel in enumerate(hotels):
                cur.execute(
                    "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, city, country, content_hash)"
                    " VALUES (%s, %s, %s, %s, 'PT', 'x') RETURNING id",
                    (supplier, f"{supplier}-{n}", f"Hotel {n}", CITIES[n % 2]))
                supplier_hotel = cur.fetchone()[0]
                # The last supplier's hotel 3 is unmatched: it must not count as competition.
                if not (supplier == SUPPLIERS[-1] and n == 3):
                    cur.execute(
                        "INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, status, score,"
                        " content_hash) VALUES (%s, %s, 'auto', 'machine', 0.95, 'x')", (supplier_hotel, hotel))
                for room_class in ("standard", "deluxe"):
                    cur.execute("INSERT INTO room_types (supplier_hotel, room_code, name, room_class)"
                                " VALUES (%s, %s, %s, %s) RETURNING id",
                                (supplier_hotel, room_class[:3].upper(), f"{room_class.title()} Room", room_class))
                    rooms.append((cur.fetchone()[0], hotel, supplier, f"{room_class.title()} Room"))
        rates = []
        for offset in range(days):
            night = start + timedelta(days=offset)
            for room_type_id, _, _, _ in rooms:
                rates.append((room_type_id, night, "RO", Decimal(rng.randint(8000, 20000)) / 100, "EUR"))
        cur.executemany("INSERT INTO rates (room_type_id, stay_date, board, net_amount, currency)"
                        " VALUES (%s, %s, %s, %s, %s)", rates)
        partner_ids, partner_names = [], []
        for name in ("WH Travel One", "WH Travel Two"):
            cur.execute("INSERT INTO partners (name, credit_currency) VALUES (%s, 'EUR') RETURNING id", (name,))
            partner_ids.append(str(cur.fetchone()[0]))
            partner_names.append(name)
        for offset in range(days):
            day = start + timedelta(days=offset)
            for _ in range(rng.randint(2 * scale, 5 * scale)):
                _quote_and_maybe_order(cur, rng, day, partner_ids, rooms)
            for _ in range(rng.randint(3 * scale, 8 * scale)):
                outcome = rng.choice(["ok"] * 8 + ["timeout", "http_error"])
                cur.execute("INSERT INTO supplier_calls (supplier_code, operation, started_at, latency_ms, outcome,"
                            " http_status) VALUES (%s, %s, %s, %s, %s, %s)",
                            (rng.choice(SUPPLIERS), rng.choice(["search", "book"]), _at(day, rng),
                             Decimal(rng.randint(20_000, 900_000)) / 1000, outcome,
                             200 if outcome == "ok" else 503))
        for week in range(days // 7):
            period_start = start + timedelta(days=7 * week)
            for supplier in SUPPLIERS:
                cur.execute("INSERT INTO settlement_cycles (supplier_code, period_start, period_end)"
                            " VALUES (%s, %s, %s) RETURNING id", (supplier, period_start,
                                                                   period_start + timedelta(days=7)))
                cycle = cur.fetchone()[0]
                for line in range(3):
                    amount = Decimal(rng.randint(10_000, 50_000)) / 100
                    cur.execute("INSERT INTO settlement_lines (cycle_id, supplier_ref, class, platform_amount,"
                                " statement_amount, difference, currency) VALUES (%s, %s, %s, %s, %s, %s, 'EUR')",
                                (cycle, f"R{week}{line}", "matched" if line else "amount_mismatch", amount,
                                 amount + (0 if line else 1), 0 if line else 1))
        conn.commit()
    return Seeded(start, start + timedelta(days=days), partner_ids, partner_names)


def _quote_and_maybe_order(cur, rng: random.Random, day: date, partner_ids: list[str], rooms: list) -> None:
    created = _at(day, rng)
    partner = rng.choice(partner_ids)
    check_in = day + timedelta(days=rng.randint(1, 20))
    nights = rng.randint(1, 4)
    quote_id, offer_ids = new_quote_ids(3)
    offers, stored = [], []
    for rank, (room_type_id, hotel, supplier, room_name) in enumerate(rng.sample(rooms, 3)):
        net = Decimal(rng.randint(8000, 20000)) / 100 * nights
        sell = (net * Decimal("1.15")).quantize(Decimal("0.01"))
        stored.append({"id": offer_ids[rank], "rank": rank, "hotel_id": hotel, "supplier_code": supplier,
                       "supplier_hotel_id": f"{supplier}-x", "room_type_id": room_type_id, "room_type": room_name,
                       "board": "RO", "net_amount": str(net), "net_currency": "EUR",
                       "platform_markup": str(sell - net), "partner_markup": "0", "fx_rate": "1",
                       "sell_exact": str(sell), "sell_amount": str(sell), "refundable": True,
                       "cancellation_policy": []})
        offers.append((offer_ids[rank], hotel, supplier, room_type_id, net, sell))
    request = {"hotel_ids": sorted({offer[1] for offer in offers}), "check_in": check_in.isoformat(),
               "check_out": (check_in + timedelta(days=nights)).isoformat(), "rooms": 1, "adults": 2}
    cur.execute("INSERT INTO quotes (id, partner_id, request, currency, created_at, expires_at, offers)"
                " VALUES (%s, %s, %s, 'EUR', %s, %s, %s)",
                (quote_id, partner, json.dumps(request), created, created + timedelta(minutes=30),
                 json.dumps(stored).encode()))
    if rng.random() < 0.6:
        offer_id, hotel, supplier, room_type_id, net, sell = rng.choice(offers)
        status = rng.choice(STATUSES)
        rooms_booked = rng.randint(1, 2)
        cur.execute(
            "INSERT INTO orders (partner_id, quote_id, offer_id, status, our_reference, supplier_code, hotel_id,"
            " room_type_id, check_in, check_out, rooms, net_amount, net_currency, platform_markup, sell_amount,"
            " sell_currency, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'EUR', %s, %s, 'EUR', %s, %s) RETURNING id",
            (partner, quote_id, offer_id, status, f"WH-{uuid.uuid4().hex[:12]}", supplier, hotel, room_type_id,
             check_in, check_in + timedelta(days=nights), rooms_booked, net * rooms_booked,
             (sell - net) * rooms_booked, sell * rooms_booked, created + timedelta(minutes=1),
             created + timedelta(minutes=2)))
        order_id = cur.fetchone()[0]
        cur.execute("INSERT INTO order_events (order_id, from_status, to_status, created_at)"
                    " VALUES (%s, NULL, 'PENDING', %s), (%s, 'PENDING', %s, %s)",
                    (order_id, created + timedelta(minutes=1), order_id, status, created + timedelta(minutes=2)))
