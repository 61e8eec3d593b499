"""BI margins in the supplier's and the platform's currency: the daily_margins rollup (by day and supplier currency)
and the sales report's section over it equal, to the last Decimal place, the margins of orders placed through the
service, each computed from the amounts and rates stored on the order."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa

from assets.warehouse import RECONCILES, _check_results
from tests.api_fixtures import (
    auth,
    fx_rates_restored,
    new_partner,
    order_body,
    seed_from_simulator,
    start_supplier_a,
)
from warehouse.client import DATABASE, warehouse_client
from warehouse.loaders import FACTS, load_fact
from warehouse.reports import Filters, build_report
from warehouse.schema import apply_schema
from warehouse.sql_models import load_models, materialize

FOUR = Decimal("0.0001")


@pytest.fixture(scope="module")
def sim(engine, settings):
    running = start_supplier_a(engine, settings)
    yield running
    running.stop()


@pytest.fixture
def rates_restored(engine):
    with fx_rates_restored(engine):
        yield


def _order_margins(row) -> tuple[Decimal, Decimal]:
    """An order's margin in its supplier's (net) currency and in the platform's currency, from its stored sell and
    net amounts, its rate into the sell currency and its rate into the platform's currency (half up, 4 places)."""
    in_net = row.sell_amount / row.fx_rate - row.net_amount
    if row.platform_currency == row.sell_currency:
        in_platform = row.sell_amount - row.net_amount * row.fx_rate
    elif row.platform_currency == row.net_currency:
        in_platform = in_net
    else:
        in_platform = in_net * row.platform_fx_rate
    return in_net.quantize(FOUR, ROUND_HALF_UP), in_platform.quantize(FOUR, ROUND_HALF_UP)


def test_daily_margins_equal_the_orders_margins_in_the_supplier_and_platform_currency(
        api_client, engine, migrated, redis_url, sim, rates_restored):
    start = dt.date.today() + dt.timedelta(days=75)
    seeded = seed_from_simulator(engine, redis_url, sim, start=start, nights=2, hotels=8, allotment=20)
    tier = f"t-{uuid.uuid4().hex[:6]}"
    with engine.begin() as conn:  # a margin of this partner's own
        conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_tier, markup_pct, priority)"
                             " VALUES ('partner', :t, 9.5, 50)"), {"t": tier})
    partner = new_partner(engine, tier=tier)
    headers = auth(api_client, partner)
    placed = []
    for sell_currency in ("CNY", "USD"):  # the platform's currency, and one neither it nor a supplier's
        quote = api_client.post("/v1/quotes", headers=headers, json={
            "hotel_ids": [offer["hotel_id"] for offer in seeded], "check_in": start.isoformat(),
            "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1,
            "currency": sell_currency}).json()
        for hotel_id in sorted({offer["hotel_id"] for offer in quote["offers"]}):
            offer = next(o for o in quote["offers"] if o["hotel_id"] == hotel_id and o["refundable"])
            response = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                                       json=order_body(offer["offer_id"]))
            assert response.status_code == 201, response.text
            placed.append(response.json()["order_id"])
    with engine.connect() as conn:
        orders = conn.execute(sa.text(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, status, net_amount, net_currency, sell_amount,"
            " sell_currency, fx_rate, platform_currency, platform_fx_rate FROM orders WHERE partner_id = :p"),
            {"p": partner.partner_id}).all()
    assert len(orders) == len(placed)
    confirmed = [row for row in orders if row.status == "CONFIRMED"]
    # Supplier A sells Chinese hotels in CNY and the others in EUR: every way a margin reaches the platform's
    # currency (it is the sell currency, the net currency, or neither) is among the orders.
    assert {row.net_currency for row in confirmed} == {"CNY", "EUR"}
    assert {(row.net_currency, row.sell_currency) for row in confirmed} >= {("EUR", "USD"), ("CNY", "USD"),
                                                                            ("EUR", "CNY")}
    assert {row.platform_currency for row in confirmed} == {"CNY"}

    expected: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for row in confirmed:
        in_net, in_platform = _order_margins(row)
        assert in_net > 0 and in_platform > 0
        totals = expected[(row.day, row.net_currency, row.platform_currency)]
        totals[0] += 1
        totals[1] += in_net
        totals[2] += in_platform

    days = sorted({row.day for row in orders})
    first, end = days[0], days[-1] + dt.timedelta(days=1)
    models = load_models()
    model = models["daily_margins"]
    with warehouse_client(migrated.clickhouse_url) as client:
        apply_schema(client)
        load_fact(client, migrated.database_url, FACTS["orders"], first, end)
        materialize(client, models["daily_sales"], first, end)  # the rest of the sales report
        materialize(client, model, first, end)
        checks = {result.check_name: result.passed for result in _check_results(client, model, first, end)}
        rows = client.query(
            f"SELECT day, supplier_currency, platform_currency, sum(bookings), sum(margin_supplier),"
            f" sum(margin_platform) FROM {DATABASE}.daily_margins WHERE partner_id = %(p)s"
            f" GROUP BY day, supplier_currency, platform_currency", parameters={"p": str(partner.partner_id)}
        ).result_rows
        report = build_report(client, "sales", Filters(first, days[-1], partner=str(partner.partner_id)))

    rollup = {(day, supplier, platform): [bookings, margin, margin_platform]
              for day, supplier, platform, bookings, margin, margin_platform in rows}
    assert rollup == {key: totals for key, totals in expected.items()}  # Decimal-exact
    assert checks == {RECONCILES: True, "not_negative": True}

    [section] = [s for s in report.sections if s.table_id == "sales-margin-by-supplier-currency"]
    assert section.columns[3:] == ["margin (supplier currency)", "margin (platform currency)", "platform currency"]
    shown = {(dt.date.fromisoformat(day), supplier, platform): [bookings, margin, margin_platform]
             for day, supplier, bookings, margin, margin_platform, platform in section.rows}
    assert shown == rollup
