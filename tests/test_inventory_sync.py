"""The inventory sync against the three simulators: content and inventory land in PostgreSQL exactly
as the world prices them, bad rows are quarantined with their reason, a failing feed blocks only its
own supplier's cache update while the previous good data keeps serving, and the Dagster assets
report what happened."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import dagster as dg
import pytest
import redis as redis_lib

from core.hotcache import Product, city_key, decode_inventory, hotel_key, product_key
from core.inventory.pipeline import refresh_hot_cache, run_content_sync, run_inventory_sync
from suppliers.catalog import seed_master_catalog
from suppliers.rates import RateBook
from tests.supplier_fixtures import set_faults

pytest_plugins = ["tests.supplier_fixtures"]
pytestmark = pytest.mark.usefixtures("clean_faults")

DAYS = 4
START = dt.date.today() + dt.timedelta(days=1)


def _query(engine, sql: str, **params):
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).fetchall()


@pytest.fixture(scope="module")
def content(engine, registered, world, fast_settings, database_url):
    """Content of all three suppliers synced, master catalog seeded, and every supplier hotel that
    really is a catalogued hotel mapped to it (decision 'auto')."""
    results = run_content_sync(fast_settings, database_url, run_id="content-1")
    seed_master_catalog(engine, world)
    truth = world.truth()
    rows = _query(engine, "SELECT id, supplier_code, supplier_hotel_id FROM supplier_hotels")
    mapping = [(row.id, truth[(row.supplier_code, row.supplier_hotel_id)]) for row in rows
               if truth.get((row.supplier_code, row.supplier_hotel_id))]
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO hotel_mappings (supplier_hotel, master_hotel_id, decision, score, "
                             "content_hash) VALUES (:sh, :master, 'auto', 0.99, 'test') ON CONFLICT DO NOTHING"),
                     [{"sh": sh, "master": master} for sh, master in mapping])
    return results


@pytest.fixture
def cache(redis_url) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(redis_url)


def test_content_lands_in_supplier_hotels(content, engine, world):
    assert {code: r.status for code, r in content.items()} == {"A": "ok", "B": "ok", "C": "ok"}
    for code in "ABC":
        stored = {row.supplier_hotel_id: row for row in _query(
            engine, "SELECT supplier_hotel_id, name, country, lat FROM supplier_hotels WHERE supplier_code = :c",
            c=code)}
        assert set(stored) == {h.supplier_hotel_id for h in world.supplier_hotels[code]}
        sample = world.supplier_hotels[code][0]
        assert stored[sample.supplier_hotel_id].name == sample.name
        assert content[code].rows_upserted == len(world.supplier_hotels[code])


def test_a_repeated_content_sync_writes_nothing(content, fast_settings, database_url):
    again = run_content_sync(fast_settings, database_url, run_id="content-2")
    assert all(result.rows_upserted == 0 and result.status == "ok" for result in again.values()), \
        {code: (r.status, r.rows_upserted, r.errors) for code, r in again.items()}


def test_inventory_matches_the_world_and_is_idempotent(content, engine, world, fast_settings, database_url):
    results = run_inventory_sync(fast_settings, database_url, run_id="inv-1", start=START, days=DAYS,
                                 batch_hotels=7)
    assert {code: r.status for code, r in results.items()} == {"A": "ok", "B": "ok", "C": "ok"}, \
        {code: r.errors for code, r in results.items()}
    book = RateBook(world)
    for code in "ABC":
        expected = {(h.supplier_hotel_id, r.room_code, r.stay_date, r.board, r.rate_plan): r
                    for h in world.supplier_hotels[code] for r in book.stay(h, START, START + dt.timedelta(DAYS))}
        stored = _query(engine, """
            SELECT sh.supplier_hotel_id, rt.room_code, r.stay_date, r.board, r.rate_plan, r.net_amount, r.currency,
                   a.allotment
            FROM rates r JOIN room_types rt ON rt.id = r.room_type_id
            JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel
            JOIN availability a ON a.room_type_id = r.room_type_id AND a.stay_date = r.stay_date
            WHERE sh.supplier_code = :c""", c=code)
        assert len(stored) == len(expected) == results[code].rows_upserted == results[code].rows_fetched
        for row in stored:
            truth = expected[(row.supplier_hotel_id, row.room_code, row.stay_date, row.board, row.rate_plan)]
            assert (row.net_amount, row.currency, row.allotment) == (truth.amount, truth.currency, truth.allotment)
    again = run_inventory_sync(fast_settings, database_url, run_id="inv-2", start=START, days=DAYS)
    assert all(r.status == "ok" and r.rows_upserted == 0 for r in again.values())  # nothing changed


def test_bad_rows_are_quarantined_with_reasons_and_counted(content, engine, simulators, fast_settings, database_url):
    set_faults(simulators["C"], negative_price=True, missing_field=True, operations=["availability"])
    results = run_inventory_sync(fast_settings, database_url, run_id="inv-bad", start=START, days=DAYS,
                                 batch_hotels=5, max_bad_share=0.5, only=["C"], delta=False)
    result = results["C"]
    rows = _query(engine, "SELECT reason, record FROM supplier_quarantine WHERE run_id = 'inv-bad'")
    assert result.rows_quarantined == len(rows) > 0
    reasons = {row.reason for row in rows}
    assert "price not positive" in reasons and any(r.startswith("missing field") for r in reasons)
    assert sum(result.quarantine_reasons.values()) == result.rows_quarantined
    negative = next(json.loads(r.record) if isinstance(r.record, str) else r.record for r in rows
                    if r.reason == "price not positive")
    assert negative["net_amount"].startswith("-")
    assert not _query(engine, "SELECT 1 FROM rates WHERE net_amount <= 0")
    assert result.status == "ok" and result.verdict.passed  # a few bad rows: quarantined, feed still passes


def _night(cache, code: str, supplier_hotel_id: str, day: dt.date) -> list[tuple] | None:
    """A supplier hotel's rates on one night as the hot cache holds them: (room type, board, plan, net minor units,
    currency, sellable rooms)."""
    raw = cache.get(product_key(code, supplier_hotel_id))
    if raw is None:
        return None
    inventory = decode_inventory(raw)
    column = (day - dt.date(1970, 1, 1)).days - inventory.first_day
    types = inventory.row_type
    return [(int(inventory.room_type_ids[types[row]]), meta[2], meta[3], int(inventory.prices[row, column]), meta[4],
             int(inventory.counts[types[row], column]))
            for row, meta in enumerate(inventory.rows) if inventory.prices[row, column] >= 0]


def test_hot_cache_serves_mapped_hotels_and_a_failing_feed_keeps_its_previous_data(
        content, engine, world, simulators, fast_settings, database_url, cache):
    run_inventory_sync(fast_settings, database_url, run_id="inv-good", start=START, days=DAYS)
    first = refresh_hot_cache(database_url, cache)
    assert sorted(first.updated) == ["A", "B", "C"] and not first.blocked
    mapped = {code: [h for h in world.supplier_hotels[code] if h.true_hotel_id] for code in "ABC"}
    master = {m.hotel_id: m for m in world.master_hotels}
    hotel_a, hotel_b = mapped["A"][0], mapped["B"][0]
    city = master[hotel_b.true_hotel_id]
    members = {Product.parse(m) for m in cache.smembers(city_key(city.country, city.city))}
    assert Product(hotel_b.true_hotel_id, "B", hotel_b.supplier_hotel_id) in members
    assert f"B|{hotel_b.supplier_hotel_id}".encode() in cache.smembers(hotel_key(hotel_b.true_hotel_id))
    unmapped = [h for h in world.supplier_hotels["B"] if not h.true_hotel_id]
    assert all(cache.get(product_key("B", h.supplier_hotel_id)) is None for h in unmapped)
    b_before = _night(cache, "B", hotel_b.supplier_hotel_id, START)
    a_before = _night(cache, "A", hotel_a.supplier_hotel_id, START)
    assert b_before and a_before and all(rate[3] > 0 for rate in b_before)

    # B's feed breaks as a whole (every price negative), A's prices move: only A's cache changes.
    set_faults(simulators["B"], negative_price=True, operations=["availability"])
    set_faults(simulators["A"], price_change_pct=10, operations=["availability"])
    results = run_inventory_sync(fast_settings, database_url, run_id="inv-broken", start=START, days=DAYS,
                                 batch_hotels=1, max_bad_share=0.0, delta=False)  # the faults are in whole answers
    assert results["B"].status == "contract_failed" and results["A"].status == "ok"
    assert "bad row share" in " ".join(results["B"].verdict.reasons)
    second = refresh_hot_cache(database_url, cache)
    assert "B" in second.blocked and "contract_failed" in second.blocked["B"]
    assert sorted(second.updated) == ["A", "C"]
    assert _night(cache, "B", hotel_b.supplier_hotel_id, START) == b_before  # previous good data still served
    a_after = _night(cache, "A", hotel_a.supplier_hotel_id, START)
    assert [r[3] for r in a_after] != [r[3] for r in a_before]


def test_unmapping_a_hotel_removes_it_from_the_product_sets(content, engine, world, fast_settings, database_url,
                                                            cache):
    import sqlalchemy as sa

    run_inventory_sync(fast_settings, database_url, run_id="inv-map", start=START, days=DAYS, only=["C"])
    refresh_hot_cache(database_url, cache, only=["C"])
    hotel = next(h for h in world.supplier_hotels["C"] if h.true_hotel_id)
    member = f"C|{hotel.supplier_hotel_id}".encode()
    assert member in cache.smembers(hotel_key(hotel.true_hotel_id))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE hotel_mappings SET status = 'rejected' WHERE supplier_hotel = (SELECT id FROM "
                             "supplier_hotels WHERE supplier_code = 'C' AND supplier_hotel_id = :id)"),
                     {"id": hotel.supplier_hotel_id})
    refresh_hot_cache(database_url, cache, only=["C"])
    assert member not in cache.smembers(hotel_key(hotel.true_hotel_id))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE hotel_mappings SET status = 'machine' WHERE status = 'rejected'"))


def test_done_when_faults_on_one_supplier_the_sync_completes_for_the_others(
        content, engine, simulators, database_url, redis_url, cache, monkeypatch, tmp_path):
    """The Dagster assets and their checks, end to end, with supplier B failing every availability call."""
    from assets import inventory
    from core.settings import reset_settings_cache
    from pipelines.resources import LocalFeedArchive, PostgresResource, RedisResource

    monkeypatch.setenv("QUERY_TIMEOUT_MS", "1500")
    monkeypatch.setenv("RETRY_BACKOFF_MS", "20")
    reset_settings_cache()
    hotel_b = next(h for h in simulators["B"].state.hotels if h.true_hotel_id)
    run_config = {"ops": {"supplier_inventory": {"config": {"days": DAYS, "batch_hotels": 10, "delta": False}}}}
    resources = {"postgres": PostgresResource(database_url=database_url), "redis": RedisResource(redis_url=redis_url),
                 "archive": LocalFeedArchive(path=str(tmp_path / "archive"))}
    assets = [inventory.supplier_hotels, inventory.supplier_inventory, inventory.inventory_hot_cache]
    checks = [inventory.inventory_feed_contracts, inventory.content_feed_contracts]
    healthy = dg.materialize(assets + checks, resources=resources, run_config=run_config)
    assert healthy.success
    b_before = cache.get(product_key("B", hotel_b.supplier_hotel_id))
    assert b_before is not None

    set_faults(simulators["B"], error_5xx=1.0, operations=["availability"])
    try:
        result = dg.materialize(assets + checks, resources=resources, run_config=run_config)
    finally:
        reset_settings_cache()
    assert result.success  # the run completes
    inventory_meta = result.asset_materializations_for_node("supplier_inventory")[0].metadata
    assert inventory_meta["suppliers_ok"].value == ["A", "C"]
    assert inventory_meta["suppliers_failed"].value == {"B": "failed"}
    per_supplier = inventory_meta["per_supplier"].value
    assert per_supplier["B"]["errors"] > 0
    assert all("HTTP 503" in e or "circuit breaker is open" in e for e in per_supplier["B"]["first_errors"])
    assert per_supplier["A"]["rows_fetched"] > 0 and per_supplier["A"]["errors"] == 0
    assert set(inventory_meta["latency_ms_per_supplier"].value) == {"A", "B", "C"}
    checks_by_name = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks_by_name["inventory_contract_B"] is False
    assert checks_by_name["inventory_contract_A"] is True and checks_by_name["inventory_contract_C"] is True
    cache_meta = result.asset_materializations_for_node("inventory_hot_cache")[0].metadata
    assert cache_meta["suppliers_updated"].value == ["A", "C"]
    assert "B" in cache_meta["suppliers_blocked"].value
    assert cache.get(product_key("B", hotel_b.supplier_hotel_id)) == b_before
    calls = _query(engine, "SELECT outcome, count(*) AS n FROM supplier_calls WHERE supplier_code = 'B' "
                           "AND operation = 'availability' GROUP BY outcome")
    assert {row.outcome for row in calls} >= {"http_error", "circuit_open"}  # 503s opened B's breaker


def test_one_inventory_sync_per_supplier_at_a_time(content, fast_settings, database_url):
    import psycopg

    from core.db import plain_url

    with psycopg.connect(plain_url(database_url), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('inventory-sync:C'))")
        results = run_inventory_sync(fast_settings, database_url, run_id="inv-locked", start=START, days=DAYS,
                                     only=["C"])
    assert results["C"].status == "failed" and "is running" in results["C"].errors[0]
    assert run_inventory_sync(fast_settings, database_url, run_id="inv-unlocked", start=START, days=DAYS,
                              only=["C"])["C"].status == "ok"


def test_one_process_per_supplier_gives_the_same_sync(content, fast_settings, database_url):
    single = run_inventory_sync(fast_settings, database_url, run_id="inv-single", start=START, days=DAYS,
                                only=["A", "C"], delta=False)
    spread = run_inventory_sync(fast_settings, database_url, run_id="inv-procs", start=START, days=DAYS,
                                only=["A", "C"], processes=True, delta=False)
    assert {c: (r.status, r.rows_fetched) for c, r in spread.items()} == \
        {c: (r.status, r.rows_fetched) for c, r in single.items()}
    assert all(r.status == "ok" and r.rows_fetched > 0 for r in spread.values())


def test_a_non_refundable_offer_synced_from_b_shows_its_whole_price_as_every_fee(
        content, engine, world, fast_settings, database_url, cache, api_client):
    """Supplier B's rule for a non-refundable rate names one night's net; cancelling charges the whole stay, so a
    quote of several nights shows the whole price as every fee (synced over HTTP, quoted through the API)."""
    from tests.api_fixtures import auth, new_partner

    assert run_inventory_sync(fast_settings, database_url, run_id="inv-nrf", start=START, days=DAYS,
                              only=["B"])["B"].status == "ok"
    refresh_hot_cache(database_url, cache)
    nights = DAYS - 1
    (master, names, rule), = _query(engine, """
        SELECT m.master_hotel_id, array_agg(DISTINCT rt.name) AS names, min(r.cancellation_policy::text) AS rule
        FROM rates r JOIN room_types rt ON rt.id = r.room_type_id JOIN supplier_hotels sh ON sh.id = rt.supplier_hotel
        JOIN hotel_mappings m ON m.supplier_hotel = sh.id
        WHERE sh.supplier_code = 'B' AND NOT r.refundable AND r.stay_date = :start
        GROUP BY m.master_hotel_id ORDER BY m.master_hotel_id LIMIT 1""", start=START)
    assert json.loads(rule), rule  # B names a fee for cancelling it (one night), not the stay
    response = api_client.post("/v1/quotes", headers=auth(api_client, new_partner(engine)), json={
        "hotel_ids": [master], "check_in": START.isoformat(),
        "check_out": (START + dt.timedelta(days=nights)).isoformat(), "adults": 1})
    assert response.status_code == 200, response.text
    offers = [o for offer in response.json()["offers"] for o in (offer, *offer.get("alternatives", []))]
    non_refundable = [o for o in offers if not o["refundable"] and o["room_name_local"] in names]
    assert non_refundable, [(o["room_name_local"], o["refundable"]) for o in offers]
    for offer in non_refundable:
        total = offer["total_price"]
        assert offer["cancellation_policy"], offer
        assert all(rule["fee"] == total for rule in offer["cancellation_policy"]), offer
        assert Decimal(total["amount"]) > Decimal(offer["nightly"][0]["price"]["amount"])  # more than a night
