"""Stale exchange rates, handled visibly: with the FX source down the last rates are kept and keep pricing until
they are older than FX_MAX_AGE_DAYS; then the offers needing a conversion are listed as unsellable with the
reason, same-currency offers stay sellable, /health says degraded and the metric shows the age.

Rate ages are made by loading sets dated in the past (the simulated FX service over HTTP, through the asset),
never by waiting."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from decimal import Decimal

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from api.schemas import QuoteResponse
from assets.fx import fx_rates
from core.fx_rates import ECB_HISTORY_PATH
from pipelines.resources import HttpFxProvider, PostgresResource
from suppliers.launch import start_fx_thread

MAX_AGE = 3  # the setting's default


@pytest.fixture
def only_our_rates(engine):
    """fx_rates holds only what this test loads; the session's other rows come back afterwards."""
    from tests.api_fixtures import fx_rates_restored

    with fx_rates_restored(engine, clear=True):
        yield


@pytest.fixture
def fx_service():
    sim = start_fx_thread()
    yield sim
    sim.stop()


def _weekday_on_or_before(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _load(settings, provider, day: dt.date) -> bool:
    result = dg.materialize([fx_rates], partition_key=day.isoformat(), raise_on_error=False,
                            resources={"postgres": PostgresResource(database_url=settings.database_url),
                                       "fx": provider})
    return result.success


def _stored_days(engine) -> list[dt.date]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT DISTINCT as_of FROM fx_rates ORDER BY as_of")).scalars().all()


def _eventually(fetch, ready, timeout_s: float = 2.0):
    """What `fetch` gives once `ready` says so: a rate load reaches the API's cached rates through a NOTIFY,
    within a second."""
    deadline = time.monotonic() + timeout_s
    value = fetch()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = fetch()
    return value


def test_fx_source_down_keeps_the_last_rates_until_too_old_then_offers_needing_them_are_unsellable(
        api_client, settings, engine, redis_url, fx_service, only_our_rates):
    from tests.api_fixtures import auth, new_partner, seed_city

    today = dt.datetime.now(dt.UTC).date()
    provider = HttpFxProvider(url=fx_service.base_url + ECB_HISTORY_PATH)
    # A CNY city served by supplier C in USD (needs USD → CNY) and supplier A in CNY (needs nothing).
    city = f"Stalecity-{secrets.token_hex(3)}"
    [usd_room] = seed_city(engine, redis_url, city=city, hotels=1, suppliers=("C",), rooms_per_hotel=1,
                           base_net=Decimal("100.00"), currency="USD")
    [cny_room] = seed_city(engine, redis_url, city=city, hotels=1, suppliers=("A",), rooms_per_hotel=1,
                           base_net=Decimal("500.00"), currency="CNY")
    headers = auth(api_client, new_partner(engine, tier=f"t-{secrets.token_hex(3)}"))
    start = today + dt.timedelta(days=20)
    search = {"city": city, "check_in": start.isoformat(), "check_out": (start + dt.timedelta(days=1)).isoformat(),
              "rooms": 1, "adults": 1, "currency": "CNY"}

    def quote() -> dict:
        response = api_client.post("/v1/quotes", headers=headers, json=search)
        assert response.status_code == 200, response.text
        QuoteResponse.model_validate(response.json())  # as documented in the OpenAPI schema
        return response.json()

    def hotels(body: dict) -> set[str]:
        return {offer["hotel_id"] for offer in body["offers"]}

    # The last set the source published within the allowed age is loaded; then the source goes down.
    recent = _weekday_on_or_before(today - dt.timedelta(days=MAX_AGE - 1))
    assert _load(settings, provider, recent)
    httpx.post(fx_service.base_url + "/_admin/down", json={"down": True}).raise_for_status()
    assert not _load(settings, provider, today)  # the failed load ...
    assert _stored_days(engine) == [recent]  # ... wipes nothing
    body = _eventually(quote, lambda b: len(hotels(b)) == 2)
    assert hotels(body) == {usd_room.hotel_id, cny_room.hotel_id}  # the kept rates still price
    assert body["unsellable_offers"] == []
    usd_offer = next(o for o in body["offers"] if o["hotel_id"] == usd_room.hotel_id)
    assert Decimal(usd_offer["total_price"]["amount"]) > 0 and usd_offer["total_price"]["currency"] == "CNY"
    health = api_client.get("/health").json()
    assert health["status"] == "ok" and health["degraded"] == [] and health["fx_rates"]["status"] == "ok"

    # Only an older set is left: USD → CNY is now older than FX_MAX_AGE_DAYS.
    old = _weekday_on_or_before(today - dt.timedelta(days=MAX_AGE + 3))
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM fx_rates"))
    httpx.post(fx_service.base_url + "/_admin/down", json={"down": False}).raise_for_status()
    assert _load(settings, provider, old)
    httpx.post(fx_service.base_url + "/_admin/down", json={"down": True}).raise_for_status()
    assert not _load(settings, provider, today)
    assert _stored_days(engine) == [old]
    age = (today - old).days

    body = _eventually(quote, lambda b: b["unsellable_offers"])
    assert hotels(body) == {cny_room.hotel_id}  # same currency: still sold
    [unsellable] = body["unsellable_offers"]  # not dropped silently
    assert unsellable["hotel_id"] == usd_room.hotel_id and unsellable["sellable"] is False
    assert "offer_id" not in unsellable
    assert unsellable["reason"] == {
        "code": "fx_rate_stale",
        "message": f"fx_rate_stale: USD→CNY rate set of {old.isoformat()} is older than {MAX_AGE} days"}

    health = api_client.get("/health")
    assert health.status_code == 200  # degraded, not down
    assert health.json()["status"] == "degraded" and health.json()["degraded"] == ["fx_rates"]
    assert health.json()["fx_rates"] == {"status": "stale", "newest_set": old.isoformat(), "age_days": age,
                                         "max_age_days": MAX_AGE}
    metrics = api_client.get("/metrics").text
    assert re.search(rf"^fx_rates_age_days {age}\.0$", metrics, re.M), metrics
    assert re.search(rf"^fx_rates_max_age_days {MAX_AGE}\.0$", metrics, re.M)

    # The source comes back: today's set is loaded and the USD offers sell again.
    httpx.post(fx_service.base_url + "/_admin/down", json={"down": False}).raise_for_status()
    assert _load(settings, provider, today)
    body = _eventually(quote, lambda b: not b["unsellable_offers"])
    assert hotels(body) == {usd_room.hotel_id, cny_room.hotel_id} and body["unsellable_offers"] == []
    assert api_client.get("/health").json()["status"] == "ok"


def test_an_explicit_currency_with_only_stale_rates_lists_the_offers_instead_of_refusing(
        api_client, engine, redis_url, only_our_rates):
    from tests.api_fixtures import auth, new_partner, seed_city

    today = dt.datetime.now(dt.UTC).date()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of)"
                             " VALUES ('EUR', 'USD', 1.08, :d), ('EUR', 'CNY', 7.7, :d)"),
                     {"d": today - dt.timedelta(days=10)})
    [room] = seed_city(engine, redis_url, city=f"Oldrates-{secrets.token_hex(3)}", hotels=1, suppliers=("C",),
                       rooms_per_hotel=1, base_net=Decimal("100.00"), currency="USD")
    headers = auth(api_client, new_partner(engine, tier=f"t-{secrets.token_hex(3)}"))
    start = today + dt.timedelta(days=20)
    response = api_client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [room.hotel_id], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1, "currency": "CNY"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["offers"] == []
    assert [o["reason"]["code"] for o in body["unsellable_offers"]] == ["fx_rate_stale"]
