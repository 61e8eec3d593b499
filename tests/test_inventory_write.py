"""The PostgreSQL write path on its own: new rows inserted, unchanged rows not rewritten, changed
prices and allotments updated, the all-upsert fallback equivalent, and policies stored as JSONB."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.inventory import store
from core.money import Money
from core.suppliers.models import CancellationRule, NightlyRate, SupplierHotel
from core.suppliers.registry import register_supplier

CODE = "C"
DAY = dt.date(2031, 3, 1)


@pytest.fixture(scope="module")
def hotel_ids(engine, database_url, settings):
    register_supplier(engine, CODE, "http://127.0.0.1:9", "k", settings.encryption_secret.get_secret_value())
    with store.connect(database_url) as conn:
        store.upsert_supplier_hotels(conn, CODE, [
            SupplierHotel(CODE, f"w-{i}", f"Write Test Hotel {i}", "1 Road", "Paris", "FR", 48.85, 2.35, 4.0, None)
            for i in range(2)])
        return {k: v for k, v in store.supplier_hotel_ids(conn, CODE).items() if k.startswith("w-")}


def _rates(price: str = "100.00", allotment: int = 3) -> list[NightlyRate]:
    rates = []
    for hotel in ("w-0", "w-1"):
        for offset in range(3):
            for board, plan in (("RO", "BAR"), ("BB", "BAR"), ("RO", "NRF")):
                net = Money.of(price, "USD")
                rates.append(NightlyRate(CODE, hotel, "std", "Standard", board, plan, DAY + dt.timedelta(days=offset),
                                         net, allotment, plan == "BAR", f"tok-{hotel}-{offset}-{board}-{plan}", 2,
                                         (CancellationRule(72, net),)))
    return rates


def _stored(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT sh.supplier_hotel_id, r.stay_date, r.board, r.rate_plan, r.net_amount, r.cancellation_policy, "
            "a.allotment FROM rates r JOIN room_types rt ON rt.id = r.room_type_id "
            "JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel "
            "JOIN availability a ON a.room_type_id = r.room_type_id AND a.stay_date = r.stay_date "
            "WHERE sh.supplier_hotel_id LIKE 'w-%' ORDER BY 1, 2, 3, 4")).fetchall()


def test_insert_skip_unchanged_update_changed(engine, database_url, hotel_ids):
    rates = _rates()
    with store.connect(database_url, bulk=True) as conn:
        first = store.write_inventory(conn, rates, hotel_ids)
        assert (first.rates, first.availability, first.room_types) == (18, 6, 2)
        again = store.write_inventory(conn, rates, hotel_ids)
        assert (again.rates, again.availability, again.room_types) == (0, 0, 0)
        changed = [dataclasses.replace(r, net=Money.of("120.50", "USD")) if r.board == "BB" and r.supplier_hotel_id
                   == "w-0" else r for r in rates]
        changed = [dataclasses.replace(r, allotment=0) if r.stay_date == DAY and r.supplier_hotel_id == "w-1" else r
                   for r in changed]
        update = store.write_inventory(conn, changed, hotel_ids)
        assert (update.rates, update.availability) == (3, 1)
    rows = _stored(engine)
    assert len(rows) == 18
    assert {row.net_amount for row in rows if row.supplier_hotel_id == "w-0" and row.board == "BB"} == \
        {Decimal("120.50")}
    assert [row.allotment for row in rows if row.supplier_hotel_id == "w-1" and row.stay_date == DAY] == [0, 0, 0]
    unchanged = next(row for row in rows if row.supplier_hotel_id == "w-1" and row.board == "RO")
    policy = unchanged.cancellation_policy
    assert policy == [{"fee": "100.00", "currency": "USD", "hours_before": 72}]
    assert Decimal(policy[0]["fee"]) == unchanged.net_amount


def test_the_all_upsert_fallback_gives_the_same_result(engine, database_url, hotel_ids):
    before = _stored(engine)
    with store.connect(database_url) as conn:
        counts = store._write_inventory(conn, _rates(), hotel_ids, None, upsert_all=True)
    after = _stored(engine)
    assert len(after) == len(before) == 18
    assert counts.rates == 3 and counts.availability == 1  # undoes exactly the earlier changes
    assert {row.net_amount for row in after} == {Decimal("100.0000")}
