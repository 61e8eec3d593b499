"""A small seeded world for the partner API tests: catalog, inventory in PostgreSQL and the hot cache.

Written through the same tables and `core.hotcache` writers the supplier sync uses, so the API
under test reads exactly what production reads.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from decimal import Decimal

import redis
import sqlalchemy as sa

from core import hotcache
from core.hotcache import CachedRate, Product
from core.partners import Credentials, create_partner


@dataclass(frozen=True)
class SeededRoom:
    hotel_id: str
    supplier_code: str
    supplier_hotel_id: str
    room_type_id: int
    room_code: str
    room_name: str
    board: str
    net: Decimal
    currency: str


def ensure_supplier(conn, code: str, base_url: str | None = None) -> None:
    conn.execute(sa.text(
        "INSERT INTO suppliers (code, name, protocol, base_url) VALUES (:c, :n, 'json', :u)"
        " ON CONFLICT (code) DO UPDATE SET base_url = COALESCE(EXCLUDED.base_url, suppliers.base_url)"
    ), {"c": code, "n": f"Supplier {code} Wholesale Ltd", "u": base_url})


def seed_city(engine, redis_url: str, *, city: str = "Testville", country: str = "CN", hotels: int = 3,
              suppliers: tuple[str, ...] = ("A",), start: dt.date | None = None, nights: int = 10,
              allotment: int = 5, base_net: Decimal = Decimal("300.00"), currency: str = "CNY",
              star: Decimal = Decimal("4.0"), rooms_per_hotel: int = 2) -> list[SeededRoom]:
    """Hotels in `city`, each sold by every supplier in `suppliers`, with rates and allotment for
    `nights` nights from `start` (default: in 20 days). Returns every sellable room type."""
    start = start or dt.date.today() + dt.timedelta(days=20)
    tag = secrets.token_hex(3)
    seeded: list[SeededRoom] = []
    client = redis.Redis.from_url(redis_url)
    with engine.begin() as conn:
        for code in suppliers:
            ensure_supplier(conn, code)
        for h in range(hotels):
            hotel_id = f"MH-{tag}-{h}"
            conn.execute(sa.text(
                "INSERT INTO master_hotels (id, name, city, country, star) VALUES (:id, :n, :c, :cc, :s)"
            ), {"id": hotel_id, "n": f"Hotel {city} {tag} {h}", "c": city, "cc": country, "s": star})
            for s_index, code in enumerate(suppliers):
                sh_id = f"{code}-{tag}-{h}"
                sh_pk = conn.execute(sa.text(
                    "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, city, country, star,"
                    " content_hash) VALUES (:s, :i, :n, :c, :cc, :st, 'x') RETURNING id"
                ), {"s": code, "i": sh_id, "n": f"{code} view of hotel {h}", "c": city, "cc": country,
                    "st": star}).scalar_one()
                conn.execute(sa.text(
                    "INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, score, content_hash)"
                    " VALUES (:sh, :mh, 'auto', 0.99, 'x')"), {"sh": sh_pk, "mh": hotel_id})
                nights_payload: dict[dt.date, list[CachedRate]] = {}
                for r in range(rooms_per_hotel):
                    room_code = f"R{r}"
                    room_name = ("Standard Double", "Deluxe King", "Family Suite")[r % 3]
                    rt_id = conn.execute(sa.text(
                        "INSERT INTO room_types (supplier_hotel, room_code, name, max_occupancy)"
                        " VALUES (:sh, :rc, :n, 3) RETURNING id"), {"sh": sh_pk, "rc": room_code, "n": room_name}
                    ).scalar_one()
                    net = base_net + Decimal(h * 10 + r * 50 + s_index * 7)
                    policy = [{"hours_before": 72, "fee": str((net / 2).quantize(Decimal("0.01"))),
                               "currency": currency}]
                    for n in range(nights):
                        day = start + dt.timedelta(days=n)
                        conn.execute(sa.text(
                            "INSERT INTO rates (room_type_id, stay_date, board, rate_plan, rate_key, net_amount,"
                            " currency, refundable, cancellation_policy) VALUES (:rt, :d, 'BB', 'BAR', :k, :a, :c,"
                            " true, CAST(:p AS jsonb))"),
                            {"rt": rt_id, "d": day, "k": f"{sh_id}:{room_code}", "a": net, "c": currency,
                             "p": json.dumps(policy)})
                        conn.execute(sa.text(
                            "INSERT INTO availability (room_type_id, stay_date, allotment) VALUES (:rt, :d, :a)"),
                            {"rt": rt_id, "d": day, "a": allotment})
                        nights_payload.setdefault(day, []).append(CachedRate(
                            rt_id, room_code, room_name, "BB", "BAR", net, currency, allotment, True,
                            f"{sh_id}:{room_code}", policy))
                    seeded.append(SeededRoom(hotel_id, code, sh_id, rt_id, room_code, room_name, "BB", net, currency))
                pipe = client.pipeline()
                hotcache.write_nights(pipe, code, sh_id, nights_payload)
                hotcache.write_products(pipe, country, city, [Product(hotel_id, code, sh_id)])
                pipe.execute()
    client.close()
    return seeded


def new_partner(engine, name: str | None = None, *, credit_limit: str = "1000000", tier: str = "standard",
                currency: str = "CNY") -> Credentials:
    return create_partner(engine, name or f"Agency {secrets.token_hex(3)}", tier=tier,
                          credit_limit=Decimal(credit_limit), currency=currency)


def token(client, credentials: Credentials) -> str:
    response = client.post("/v1/auth/token", json={"client_id": credentials.client_id,
                                                     "client_secret": credentials.client_secret})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def auth(client, credentials: Credentials) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client, credentials)}"}
