"""The re-sync asks the three simulators only for what changed since the last good run ("changed since", by
the supplier's clock), and a supplier that offers no delta feed is synced whole, as correctly. Own database and
simulators: the other inventory tests compare with the unchanged world."""

from __future__ import annotations

import datetime as dt

import httpx
import sqlalchemy as sa

from core.db import engine_for
from core.inventory.pipeline import run_content_sync, run_inventory_sync
from core.inventory.store import DeltaBase
from core.inventory.sync import fetch_spans
from core.migrate import upgrade
from core.suppliers.registry import register_supplier
from suppliers.launch import DEV_KEYS, start_simulator_threads
from suppliers.world import generate_world

START = dt.date.today() + dt.timedelta(days=1)
DAYS = 3


def _admin(simulator, path: str, body: dict) -> dict:
    response = httpx.post(f"{simulator.base_url}/_admin/{path}", json=body, headers={"X-Admin-Key": DEV_KEYS[
        simulator.code]}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _stored_prices(engine, code: str) -> dict[tuple, object]:
    with engine.connect() as conn:
        return {tuple(row[:5]): row[5] for row in conn.execute(sa.text(
            "SELECT sh.supplier_hotel_id, rt.room_code, r.stay_date, r.board, r.rate_plan, r.net_amount FROM rates r"
            " JOIN room_types rt ON rt.id = r.room_type_id JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel"
            " WHERE sh.supplier_code = :c"), {"c": code})}


def _prices(simulator) -> dict[tuple, object]:
    return {(hotel.supplier_hotel_id, r.room_code, r.stay_date, r.board, r.rate_plan): r.amount
            for hotel in simulator.state.hotels for r in simulator.state.stay(hotel, START, START + dt.timedelta(DAYS))}


def test_a_re_sync_fetches_only_changes_and_a_supplier_without_a_delta_feed_is_synced_whole(new_database, settings):
    database_url = new_database("hotel_delta")
    upgrade(database_url)
    engine = engine_for(database_url)
    simulators = start_simulator_threads(generate_world(20261203, 12))
    try:
        for code, simulator in simulators.items():
            register_supplier(engine, code, simulator.base_url, DEV_KEYS[code],
                              settings.encryption_secret.get_secret_value())
        run_content_sync(settings, database_url)

        def sync() -> dict:
            results = run_inventory_sync(settings, database_url, start=START, days=DAYS)
            assert {code: r.status for code, r in results.items()} == dict.fromkeys("ABC", "ok"), \
                {code: (r.errors, r.verdict) for code, r in results.items()}
            return results

        first = sync()
        assert all(r.delta_answers == 0 and r.rows_fetched > 0 for r in first.values())
        unchanged = sync()
        assert {code: (r.rows_fetched, r.rows_upserted) for code, r in unchanged.items()} == \
            dict.fromkeys("ABC", (0, 0))
        assert all(r.delta_answers > 0 for r in unchanged.values())

        _admin(simulators["B"], "features", {"delta_feed": False})
        moved = {code: _admin(simulator, "reprice", {"share": 0.1, "pct": 7, "salt": "delta-test",
                                                     "from": START.isoformat(),
                                                     "to": (START + dt.timedelta(days=DAYS)).isoformat()})
                 ["rates_repriced"] for code, simulator in simulators.items()}
        changed = sync()
        for code in "AC":  # only the changed rooms' nights came
            assert changed[code].delta_answers > 0
            assert moved[code] <= changed[code].rows_fetched < first[code].rows_fetched / 2
            # Written: the repriced rates, and nights whose offer's cancellation fee follows a repriced night.
            assert moved[code] <= changed[code].rows_upserted <= changed[code].rows_fetched
        assert changed["B"].delta_answers == 0 and changed["B"].rows_fetched == first["B"].rows_fetched
        assert changed["B"].rows_upserted == moved["B"]  # B's fees follow each night's own price
        for code, simulator in simulators.items():  # PostgreSQL holds every supplier's prices as they are now
            assert _stored_prices(engine, code) == _prices(simulator)

        # A hotel with nothing stored yet (new in the content) is fetched whole, even from a delta feed.
        hotel = simulators["C"].state.hotels[0].supplier_hotel_id
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM rates WHERE room_type_id IN (SELECT rt.id FROM room_types rt JOIN"
                                 " supplier_hotels sh ON sh.id = rt.supplier_hotel WHERE sh.supplier_code = 'C'"
                                 " AND sh.supplier_hotel_id = :h)"), {"h": hotel})
        # (what changed within the last run's first second may come again: a cursor has whole seconds)
        assert sync()["C"].rows_fetched >= sum(1 for key in _prices(simulators["C"]) if key[0] == hotel)
        assert _stored_prices(engine, "C") == _prices(simulators["C"])
    finally:
        for simulator in simulators.values():
            simulator.stop()


def test_nights_new_to_the_window_are_fetched_whole():
    since = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    base = DeltaBase(since, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert fetch_spans(None, (dt.date(2026, 12, 2), dt.date(2027, 1, 1))) == \
        [(dt.date(2026, 12, 2), dt.date(2027, 1, 1), None)]
    assert fetch_spans(base, (dt.date(2026, 12, 2), dt.date(2027, 1, 1))) == \
        [(dt.date(2026, 12, 2), dt.date(2026, 12, 31), since), (dt.date(2026, 12, 31), dt.date(2027, 1, 1), None)]
    assert fetch_spans(base, (dt.date(2026, 12, 1), dt.date(2026, 12, 31))) == \
        [(dt.date(2026, 12, 1), dt.date(2026, 12, 31), since)]
    assert fetch_spans(base, (dt.date(2027, 1, 2), dt.date(2027, 2, 1))) == \
        [(dt.date(2027, 1, 2), dt.date(2027, 2, 1), None)]  # a window the last run did not touch: whole
