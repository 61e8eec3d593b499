"""An order keeps the rate set it was priced with: the set's day, the rate into the sell currency and the rate into
the platform's currency are stored on it; a later rule change or rate load prices the next quote but changes
neither an order of an earlier quote nor its margins in the supplier's and the platform's currency (as settlement
and the BI facts compute them)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.settlement.cycles import cycle_containing
from core.settlement.money_totals import cycle_money
from core.settlement.store import load_orders
from tests.api_fixtures import (
    auth,
    fx_rates_restored,
    new_partner,
    order_body,
    seed_from_simulator,
    start_supplier_a,
)


@pytest.fixture(scope="module")
def sim(engine, settings):
    running = start_supplier_a(engine, settings)
    yield running
    running.stop()


def _stored(engine, order_id: str):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT fx_rate, fx_as_of, platform_currency, platform_fx_rate, net_amount, net_currency, sell_amount,"
            " sell_currency, price_breakdown -> 'fx' AS fx FROM orders WHERE id = :id"), {"id": order_id}).one()


def _margins(engine, order_id: str, check_out: dt.date):
    with engine.connect() as conn:
        _, money = load_orders(conn, "A", cycle_containing(check_out))
    totals = cycle_money([m for m in money if m.order_id == order_id], "A")
    return totals.margin, totals.margin_supplier_currency, totals.margin_platform_currency


@pytest.fixture
def rates_restored(engine):
    with fx_rates_restored(engine):
        yield


def test_an_order_keeps_its_rate_set_and_margins_when_rules_and_rates_change(
        api_client, engine, migrated, redis_url, sim, rates_restored):
    start = dt.date.today() + dt.timedelta(days=61)
    [offer_seed, *_] = seed_from_simulator(engine, redis_url, sim, start=start, nights=2, hotels=1, allotment=20)
    net_currency = offer_seed["currency"]
    sell_currency = "USD" if net_currency != "USD" else "EUR"
    tier = f"t-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:  # a margin of this partner's own (other tests' rules apply to other tiers)
        conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_tier, markup_pct, priority)"
                             " VALUES ('partner', :t, 12, 50)"), {"t": tier})
    headers = auth(api_client, new_partner(engine, tier=tier))
    search = {"hotel_ids": [offer_seed["hotel_id"]], "check_in": start.isoformat(),
              "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1,
              "currency": sell_currency}
    quote = api_client.post("/v1/quotes", headers=headers, json=search).json()
    offer = next(o for o in quote["offers"] if o["refundable"])

    def next_price(old: dict) -> dict:
        """The offer's price in the next quote, once a change reached the API (NOTIFY, within a second)."""
        deadline = time.monotonic() + 2
        while True:
            again = api_client.post("/v1/quotes", headers=headers, json=search).json()
            price = next(o for o in again["offers"] if o["hotel_id"] == offer["hotel_id"] and o["refundable"])
            if price["total_price"] != old or time.monotonic() > deadline:
                return price["total_price"]
            time.sleep(0.05)

    # A rule change prices the next quote, not an order of the earlier quote.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE pricing_rules SET markup_pct = 30 WHERE partner_tier = :t"), {"t": tier})
    dearer = next_price(offer["total_price"])
    assert Decimal(dearer["amount"]) > Decimal(offer["total_price"]["amount"])
    response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                               json=order_body(offer["offer_id"]))
    assert response.status_code == 201, response.text
    order_id = response.json()["order_id"]
    assert response.json()["status"] == "CONFIRMED"
    assert response.json()["total_price"] == offer["total_price"]
    with engine.connect() as conn:
        newest = conn.execute(sa.text("SELECT max(as_of) FROM fx_rates")).scalar()

    before = _stored(engine, order_id)
    assert before.fx_as_of is not None and before.fx_as_of <= newest  # the set it was priced with
    assert before.platform_currency == "CNY" and before.platform_fx_rate is not None
    assert before.fx["as_of"] == before.fx_as_of.isoformat() and Decimal(before.fx["rate"]) == before.fx_rate
    margins = _margins(engine, order_id, start + dt.timedelta(days=2))
    sell_margin = margins[0][before.sell_currency]
    assert sell_margin > 0  # the partner tier's rule carries a margin
    # In the supplier's currency: the sell-currency margin at the order's own rate; in the platform's: that × its
    # rate into the platform's currency.
    in_net = margins[1][before.net_currency]
    assert abs(in_net - sell_margin / before.fx_rate) <= Decimal("0.0001")
    assert abs(margins[2]["CNY"] - (sell_margin if before.sell_currency == "CNY"
                                    else in_net * before.platform_fx_rate)) <= Decimal("0.0001")

    # Tomorrow's rates are twice as dear: the next quote changes, the order and its margins do not.
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of, source)"
            " SELECT DISTINCT ON (base_currency, quote_currency) base_currency, quote_currency, rate * 2, as_of + 1,"
            " 'test' FROM fx_rates ORDER BY base_currency, quote_currency, as_of DESC"
            " ON CONFLICT (base_currency, quote_currency, as_of) DO UPDATE SET rate = EXCLUDED.rate"))
    assert next_price(dearer) != dearer
    assert _stored(engine, order_id) == before
    assert _margins(engine, order_id, start + dt.timedelta(days=2)) == margins

    # BI: the orders fact carries the same margins in both currencies, and the rate set's day.
    from warehouse.client import DATABASE, warehouse_client
    from warehouse.loaders import FACTS, load_fact
    from warehouse.schema import apply_schema

    today = dt.datetime.now(dt.UTC).date()
    with warehouse_client(migrated.clickhouse_url) as client:
        apply_schema(client)
        load_fact(client, migrated.database_url, FACTS["orders"], today, today + dt.timedelta(days=1))
        [fact] = client.query(f"SELECT fx_as_of, platform_currency, margin_amount, margin_net_amount,"
                              f" margin_platform_amount FROM {DATABASE}.fact_orders WHERE order_id = %(id)s",
                              parameters={"id": order_id}).result_rows
    assert fact[0] == before.fx_as_of and fact[1] == "CNY"
    assert abs(fact[2] - sell_margin) <= Decimal("0.001")
    assert abs(fact[3] - in_net) <= Decimal("0.001")
    assert abs(fact[4] - margins[2]["CNY"]) <= Decimal("0.001")
