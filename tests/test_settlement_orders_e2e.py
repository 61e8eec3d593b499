"""Orders the partner API creates (booked at simulator A over real HTTP), reconciled against A's statement."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal

import httpx
import sqlalchemy as sa

from core.money import exponent
from core.settlement import review
from core.settlement.cycles import cycle_containing
from core.settlement.store import run_cycle, statement_for_cycle
from tests.api_fixtures import auth, new_partner, order_body, seed_from_simulator, start_supplier_a


def _book(api_client, headers, offer: dict, start: dt.date) -> dict:
    quote = api_client.post("/v1/quotes", headers=headers, json={
        "hotel_ids": [offer["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=2)).isoformat(), "rooms": 1, "adults": 1})
    assert quote.status_code == 200, quote.text
    choice = next(o for o in quote.json()["offers"] if o["room_type"] == offer["room_name"] and o["refundable"])
    order = api_client.post("/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                            json=order_body(choice["offer_id"]))
    assert order.status_code == 201 and order.json()["status"] == "CONFIRMED", order.text
    return order.json()


def test_api_orders_reconcile_against_the_supplier_statement(api_client, engine, settings, redis_url):
    with engine.connect() as conn:
        previous_url = conn.execute(sa.text("SELECT base_url FROM suppliers WHERE code = 'A'")).scalar()
    sim = start_supplier_a(engine, settings)
    try:
        start = dt.date.today() + dt.timedelta(days=400)
        offers = seed_from_simulator(engine, redis_url, sim, start=start, nights=2, hotels=2, allotment=20)
        credentials = new_partner(engine, credit_limit="10000000")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE partners SET commission_pct = 10 WHERE id = :id"),
                         {"id": credentials.partner_id})
        headers = auth(api_client, credentials)
        orders = [_book(api_client, headers, offers[i % len(offers)], start) for i in range(3)]
        cancelled = api_client.post(f"/v1/orders/{orders[2]['order_id']}/cancel", headers=headers)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
        with engine.connect() as conn:
            stored = {str(r.id): r for r in conn.execute(sa.text(
                "SELECT id, supplier_ref, net_amount, net_currency, sell_amount, sell_currency FROM orders"
                " WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": [o["order_id"] for o in orders]})}
        # The supplier bills one booking 7 more than agreed.
        overbilled = stored[orders[1]["order_id"]]
        adjusted = httpx.post(f"{sim.base_url}/_admin/bookings/{overbilled.supplier_ref}",
                              json={"statement_amount": str(overbilled.net_amount + 7)},
                              headers={"X-Admin-Key": sim.state.api_key}, timeout=5)
        assert adjusted.status_code == 200, adjusted.text

        cycle = cycle_containing(start + dt.timedelta(days=2))
        frame, source = statement_for_cycle(engine, settings, "A", cycle)
        assert source == "adapter" and frame.height == 3
        outcome = run_cycle(engine, "A", cycle, frame, source)
    finally:
        sim.stop()
        if previous_url:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE suppliers SET base_url = :u WHERE code = 'A'"), {"u": previous_url})

    assert outcome.counts["matched"] == 2 and outcome.counts["amount_mismatch"] == 1
    assert outcome.counts["discrepancies"] == 1 and outcome.counts["orders"] == 3
    [row] = review.list_discrepancies(engine, outcome.cycle_id)
    assert row["order_id"] == orders[1]["order_id"] and Decimal(row["difference"]) == Decimal(7)
    confirmed = [stored[o["order_id"]] for o in orders[:2]]
    payable: dict[str, Decimal] = {}
    receivable: dict[str, Decimal] = {}
    for r in confirmed:  # the cancelled order was free to cancel: nothing payable or receivable for it
        payable[r.net_currency] = payable.get(r.net_currency, Decimal(0)) + r.net_amount
        receivable[r.sell_currency] = receivable.get(r.sell_currency, Decimal(0)) + (
            r.sell_amount * Decimal("0.9")).quantize(exponent(r.sell_currency), ROUND_HALF_UP)
    assert {c: Decimal(a) for c, a in outcome.totals["payable"].items() if Decimal(a)} == payable
    assert {e["currency"]: Decimal(e["amount"]) for e in outcome.totals["receivable"] if Decimal(e["amount"])} \
        == receivable
    assert {e["partner_id"] for e in outcome.totals["receivable"]} == {str(credentials.partner_id)}
    assert outcome.balanced
