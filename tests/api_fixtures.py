"""A small seeded world for the partner API tests: catalog, inventory in PostgreSQL and the hot cache.

Written through the same tables, and into the hot cache by the same writer the supplier sync uses
(`core.inventory.cache`), so the API under test reads exactly what production reads.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import redis
import sqlalchemy as sa

from core.db import plain_url
from core.inventory.cache import write_mapped_hotels
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
    written: dict[str, list[str]] = {}
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
                    seeded.append(SeededRoom(hotel_id, code, sh_id, rt_id, room_code, room_name, "BB", net, currency))
                written.setdefault(code, []).append(sh_id)
    cache_hotels(engine, redis_url, written, start, start + dt.timedelta(days=nights))
    return seeded


def cache_hotels(engine, redis_url: str, hotels: dict[str, list[str]], start: dt.date, end: dt.date) -> None:
    """Write these supplier hotels ({supplier: [supplier hotel id]}) into the hot cache as the sync does."""
    client = redis.Redis.from_url(redis_url)
    try:
        with psycopg.connect(plain_url(engine.url.render_as_string(hide_password=False))) as conn:
            for code, supplier_hotel_ids in hotels.items():
                write_mapped_hotels(conn, client, code, supplier_hotel_ids, start, end)
    finally:
        client.close()


def new_partner(engine, name: str | None = None, *, credit_limit: str = "1000000", tier: str = "standard",
                currency: str = "CNY") -> Credentials:
    return create_partner(engine, name or f"Agency {secrets.token_hex(3)}", tier=tier,
                          credit_limit=Decimal(credit_limit), currency=currency)


@dataclass(frozen=True)
class StaffLogin:
    """A named staff account made for a test: its username, password and role."""

    username: str
    password: str
    role: str


def new_staff(engine, role: str, username: str | None = None) -> StaffLogin:
    from core.audit import Actor
    from core.staff import create_staff

    username = username or f"{role[:3]}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    create_staff(engine, username, f"Test {role.title()} {username[-4:]}", role, password,
                 Actor("pytest", "admin", "cli"))
    return StaffLogin(username, password, role)


def token(client, credentials: Credentials | StaffLogin) -> str:
    if isinstance(credentials, StaffLogin):
        response = client.post("/v1/auth/staff-token", json={"username": credentials.username,
                                                              "password": credentials.password})
    else:
        response = client.post("/v1/auth/token", json={"client_id": credentials.client_id,
                                                         "client_secret": credentials.client_secret})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def auth(client, credentials: Credentials | StaffLogin) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client, credentials)}"}


# --- the simulated supplier A over real HTTP, and the API served by uvicorn on an ephemeral port ------

def start_supplier_a(engine, settings, seed: int = 7, hotels: int = 12):
    """Simulator A on 127.0.0.1:<ephemeral>, registered in `suppliers` as the registry reads it."""
    from core.suppliers.config import DEV_KEYS
    from core.suppliers.registry import register_supplier
    from suppliers import sim_a
    from suppliers.simcore import RunningSimulator
    from suppliers.world import generate_world

    world = generate_world(seed, hotels, suppliers=("A",), coverage=1.0, supplier_only_share=0.0)
    sim = RunningSimulator("A", sim_a.create_app(world)).start()
    register_supplier(engine, "A", sim.base_url, DEV_KEYS["A"], settings.encryption_secret.get_secret_value())
    return sim


def seed_from_simulator(engine, redis_url: str, sim, *, start: dt.date, nights: int = 2, hotels: int = 3,
                        allotment: int | None = None) -> list[dict]:
    """Catalog, rates, allotment and hot cache for some of the simulator's hotels, from the simulator's
    own rate book (what its availability API serves), as the supplier sync would write them. An `allotment`
    given is set at the simulator too.

    Returns one sellable offer description per hotel (refundable BAR rate available every night).
    """
    from suppliers.rates import CNY_PER

    world = sim.state.world
    masters = {m.hotel_id: m for m in world.master_hotels}
    book = sim.state.rates
    chosen: list[dict] = []
    written: list[str] = []
    end = start + dt.timedelta(days=nights)
    with engine.begin() as conn:
        for currency, per_cny in CNY_PER.items():
            if currency != "CNY":
                conn.execute(sa.text(
                    "INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of) VALUES (:b, 'CNY', :r, :d)"
                    " ON CONFLICT DO NOTHING"), {"b": currency, "r": per_cny, "d": dt.date.today()})
        for hotel in sim.state.hotels:
            if len(chosen) >= hotels:
                break
            master = masters.get(hotel.true_hotel_id or "")
            if master is None:
                continue
            stay = book.stay(hotel, start, end)
            conn.execute(sa.text(
                "INSERT INTO master_hotels (id, name, city, country, star) VALUES (:id, :n, :c, :cc, :s)"
                " ON CONFLICT (id) DO NOTHING"),
                {"id": master.hotel_id, "n": master.name, "c": master.city, "cc": master.country, "s": master.star})
            sh_pk = conn.execute(sa.text(
                "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, city, country, star,"
                " content_hash) VALUES ('A', :i, :n, :c, :cc, :s, 'x') ON CONFLICT (supplier_code, supplier_hotel_id)"
                " DO UPDATE SET name = EXCLUDED.name RETURNING id"),
                {"i": hotel.supplier_hotel_id, "n": hotel.name, "c": hotel.city, "cc": hotel.country,
                 "s": hotel.star}).scalar_one()
            conn.execute(sa.text(
                "INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, score, content_hash)"
                " VALUES (:sh, :mh, 'auto', 0.99, 'x') ON CONFLICT (supplier_hotel) DO NOTHING"),
                {"sh": sh_pk, "mh": master.hotel_id})
            room_ids: dict[str, int] = {}
            for rate in stay:
                if rate.room_code not in room_ids:
                    room_ids[rate.room_code] = conn.execute(sa.text(
                        "INSERT INTO room_types (supplier_hotel, room_code, name, max_occupancy)"
                        " VALUES (:sh, :rc, :n, :m) ON CONFLICT (supplier_hotel, room_code)"
                        " DO UPDATE SET name = EXCLUDED.name RETURNING id"),
                        {"sh": sh_pk, "rc": rate.room_code, "n": rate.room_name, "m": rate.max_occupancy},
                    ).scalar_one()
                rt_id = room_ids[rate.room_code]
                units = rate.allotment if allotment is None else allotment
                if allotment is not None:  # the supplier has what we store (it counts its bookings against it)
                    sim.state.set_allotment(hotel.supplier_hotel_id, rate.room_code, rate.stay_date, allotment)
                policy = ([{"hours_before": 72, "fee": str(rate.amount), "currency": rate.currency}]
                          if rate.refundable else [])
                conn.execute(sa.text(
                    "INSERT INTO rates (room_type_id, stay_date, board, rate_plan, net_amount, currency, refundable,"
                    " cancellation_policy) VALUES (:rt, :d, :b, :p, :a, :c, :r, CAST(:pol AS jsonb))"
                    " ON CONFLICT DO NOTHING"),
                    {"rt": rt_id, "d": rate.stay_date, "b": rate.board, "p": rate.rate_plan, "a": rate.amount,
                     "c": rate.currency, "r": rate.refundable, "pol": json.dumps(policy)})
                conn.execute(sa.text(
                    "INSERT INTO availability (room_type_id, stay_date, allotment) VALUES (:rt, :d, :a)"
                    " ON CONFLICT (room_type_id, stay_date) DO UPDATE SET allotment = EXCLUDED.allotment"),
                    {"rt": rt_id, "d": rate.stay_date, "a": units})
            written.append(hotel.supplier_hotel_id)
            by_night = {}
            for rate in stay:
                if rate.rate_plan == "BAR" and rate.board == "RO" and rate.allotment > 0:
                    by_night.setdefault(rate.room_code, []).append(rate)
            for room_code, rates in by_night.items():
                if len(rates) == nights:
                    chosen.append({"hotel_id": master.hotel_id, "city": master.city, "country": master.country,
                                   "room_type_id": room_ids[room_code], "room_name": rates[0].room_name,
                                   "net": sum(r.amount for r in rates), "currency": rates[0].currency})
                    break
    cache_hotels(engine, redis_url, {"A": written}, start, end)
    return chosen


class ServedApp:
    """The real app under uvicorn in a thread on an ephemeral port (for truly concurrent clients)."""

    def __init__(self, settings, endpoints) -> None:
        import socket
        import threading

        import uvicorn

        from api.app import create_app

        self.app = create_app(settings, endpoints)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_config=None, access_log=False,
                                                     timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=lambda: self._server.run(sockets=[sock]), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedApp:
        import time

        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("API did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def guests(first: str = "Ada", last: str = "Lovelace") -> list[dict]:
    return [{"first_name": first, "last_name": last}]


def order_body(offer_id: str, **extra) -> dict:
    return {"offer_id": offer_id, "guests": extra.pop("guests", guests()),
            "contact": {"name": "Ada Lovelace", "email": "ada@example.com"}, **extra}


@contextmanager
def fx_rates_restored(engine, clear: bool = False):
    """The session's fx_rates as they were once the block ends (a test that dates rates in the past or doubles
    them leaves other tests' prices alone); `clear`: the block starts with none."""
    with engine.begin() as conn:
        saved = conn.execute(sa.text("SELECT base_currency, quote_currency, rate, as_of, source FROM fx_rates")).all()
        if clear:
            conn.execute(sa.text("DELETE FROM fx_rates"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM fx_rates"))
            if saved:
                conn.execute(sa.text("INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of, source)"
                                     " VALUES (:b, :q, :r, :d, :s)"),
                             [{"b": r[0], "q": r[1], "r": r[2], "d": r[3], "s": r[4]} for r in saved])
