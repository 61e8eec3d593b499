"""Exchange rates as a Dagster asset: one ECB-format rate set per day from the simulated FX service over HTTP,
history kept, crosses through EUR, and a blocking check that holds back a set missing a currency or moving
too far (unless an operator accepts the move)."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from decimal import Decimal

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from assets.fx import USABLE, fx_rates
from core.fx import FxTable
from core.fx_rates import ECB_HISTORY_PATH, ecb_xml, parse_ecb_xml
from pipelines.resources import FixedFxProvider, HttpFxProvider, PostgresResource
from suppliers.launch import start_fx_thread
from suppliers.sim_fx import rates_for_day


def _weekday(days_ago: int) -> dt.date:
    day = dt.date.today() - dt.timedelta(days=days_ago)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _publication_days(count: int) -> list[dt.date]:
    """`count` consecutive ECB publication days (weekdays), ending a few days ago."""
    days = sorted({_weekday(n) for n in range(5, 30)})
    return days[-count:]


@pytest.fixture
def fx_service():
    sim = start_fx_thread()
    yield sim
    sim.stop()


def _materialize(settings, provider, day: dt.date, accept_moves: bool = False):
    result = dg.materialize(
        [fx_rates], partition_key=day.isoformat(), raise_on_error=False,
        resources={"postgres": PostgresResource(database_url=settings.database_url), "fx": provider},
        run_config={"ops": {"fx_rates": {"config": {"accept_moves": accept_moves}}}})
    [check] = result.get_asset_check_evaluations()
    [materialization] = result.asset_materializations_for_node("fx_rates")
    return check, materialization.metadata


def _stored(engine, as_of: dt.date) -> dict[str, Decimal]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT quote_currency, rate FROM fx_rates WHERE base_currency = 'EUR'"
                                    " AND as_of = :d"), {"d": as_of}).all()
    return {row.quote_currency: row.rate for row in rows}


def test_the_ecb_document_round_trips_and_crosses_go_through_eur():
    day = _weekday(3)
    [parsed] = parse_ecb_xml(ecb_xml([rates_for_day(day)]))
    assert parsed.as_of == day and parsed.rates == rates_for_day(day).rates
    table = FxTable({("EUR", c): r for c, r in parsed.rates.items()}, pivot="CNY")
    assert table.rate("USD", "CNY") == parsed.rates["CNY"] / parsed.rates["USD"]
    assert table.rate("CNY", "EUR") == 1 / parsed.rates["CNY"]


def test_fx_asset_loads_days_from_the_simulated_service_and_its_check_gates_them(settings, engine, fx_service):
    provider = HttpFxProvider(url=fx_service.base_url + ECB_HISTORY_PATH)
    first, second, third, fourth = _publication_days(4)
    check, metadata = _materialize(settings, provider, first)
    assert check.passed and metadata["stored"].value is True
    assert _stored(engine, first) == rates_for_day(first).rates  # every currency, as published
    check, _ = _materialize(settings, provider, second)
    assert check.passed
    assert _stored(engine, first) and _stored(engine, second)  # history: one set per day

    # The source jumps 10 % on the third day: the check fails and the set is held back ...
    jumped = {c: str(r * Decimal("1.10")) for c, r in rates_for_day(third).rates.items()}
    httpx.post(fx_service.base_url + "/_admin/rates", json={"day": third.isoformat(), "rates": jumped})
    check, metadata = _materialize(settings, provider, third)
    assert check.check_name == USABLE and not check.passed and check.blocking
    assert "moved more than 5" in check.description and metadata["stored"].value is False
    assert _stored(engine, third) == {}
    # ... until an operator accepts the move.
    check, metadata = _materialize(settings, provider, third, accept_moves=True)
    assert check.passed and check.description.startswith("accepted")
    assert metadata["stored"].value is True and _stored(engine, third)["USD"] == Decimal(jumped["USD"])

    # A set without a currency the platform sells in is never stored, accepted or not.
    missing = {c: str(r) for c, r in rates_for_day(fourth).rates.items() if c != "CNY"}
    httpx.post(fx_service.base_url + "/_admin/rates", json={"day": fourth.isoformat(), "rates": missing})
    check, metadata = _materialize(settings, provider, fourth, accept_moves=True)
    assert not check.passed and "missing CNY" in check.description and _stored(engine, fourth) == {}


def test_fx_source_down_fails_the_run_and_keeps_the_last_rates(settings, engine, fx_service):
    provider = HttpFxProvider(url=fx_service.base_url + ECB_HISTORY_PATH)
    day = _weekday(40)
    assert _materialize(settings, provider, day)[0].passed
    httpx.post(fx_service.base_url + "/_admin/down", json={"down": True})
    result = dg.materialize([fx_rates], partition_key=_weekday(39).isoformat(), raise_on_error=False,
                            resources={"postgres": PostgresResource(database_url=settings.database_url),
                                       "fx": provider})
    assert not result.success
    assert _stored(engine, day) == rates_for_day(day).rates


def test_offline_twin_serves_the_same_history_without_a_network(settings, engine):
    today = _weekday(50)  # earlier than every other set these tests store: no previous set to move from
    provider = FixedFxProvider(today=today.isoformat())
    assert parse_ecb_xml(provider.fetch_xml())[-1] == rates_for_day(today)
    check, _ = _materialize(settings, provider, today)
    assert check.passed


def test_the_simulated_service_speaks_the_ecb_paths(fx_service):
    daily = httpx.get(fx_service.base_url + "/stats/eurofxref/eurofxref-daily.xml")
    [latest] = parse_ecb_xml(daily.text)
    assert latest == rates_for_day(_weekday(0))
    assert len(parse_ecb_xml(httpx.get(fx_service.base_url + ECB_HISTORY_PATH).text)) > 50


def test_a_usd_net_hotel_sells_in_jpy_through_eur_and_a_new_rate_set_prices_the_next_quote(
        api_client, settings, engine, redis_url):
    """Only euro reference rates are stored for JPY: USD → JPY crosses through EUR; a newer set (stored as the
    asset stores it) reaches the next quote within a second (NOTIFY drops the API's cached rates)."""
    from core.fx_rates import RateSet, store_rate_set
    from tests.api_fixtures import auth, new_partner, seed_city

    day = _weekday(0)
    rates = dict(rates_for_day(day).rates)
    store_rate_set(engine, RateSet(day, rates), "test")
    [room] = seed_city(engine, redis_url, city="Crossville", hotels=1, suppliers=("A",), rooms_per_hotel=1,
                       base_net=Decimal("100.00"), currency="USD")
    headers = auth(api_client, new_partner(engine, tier=f"t-{secrets.token_hex(3)}"))
    start = dt.date.today() + dt.timedelta(days=20)
    search = {"hotel_ids": [room.hotel_id], "check_in": start.isoformat(),
              "check_out": (start + dt.timedelta(days=1)).isoformat(), "rooms": 1, "adults": 1, "currency": "JPY"}

    def total() -> Decimal:
        [offer] = api_client.post("/v1/quotes", headers=headers, json=search).json()["offers"]
        assert offer["total_price"]["currency"] == "JPY"
        return Decimal(offer["total_price"]["amount"])

    def eventually_changed(old: Decimal) -> Decimal:
        deadline = time.monotonic() + 1.0
        value = total()
        while value == old and time.monotonic() < deadline:
            time.sleep(0.02)
            value = total()
        return value

    # The API may have cached older rates: a later set (tomorrow's) is the newest, so it must be quoted.
    first = eventually_changed(Decimal(-1))
    later = day + dt.timedelta(days=1)
    store_rate_set(engine, RateSet(later, {**rates, "JPY": rates["JPY"] * 2}), "test")
    second = eventually_changed(first)
    assert abs(second - first * 2) <= 1, (first, second)  # JPY has no minor unit: rounding moves it by ≤ 1
