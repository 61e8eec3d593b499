"""Settlement test data: a supplier, partners and orders in one cycle, and statements as CSV text."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from core.partners import create_partner
from core.settlement.cycles import Cycle, cycle_containing

STATEMENT_HEADER = "supplier_ref,check_in,check_out,status,amount,currency"


@dataclass
class SeededCycle:
    supplier: str
    cycle: Cycle
    partners: dict[str, str]  # name -> partner id
    refs: dict[str, str]  # label -> supplier ref
    order_ids: dict[str, str]  # label -> order id


def past_cycle(weeks_back: int = 3) -> Cycle:
    return cycle_containing(dt.date.today() - dt.timedelta(weeks=weeks_back))


def seed_cycle(engine, cycle: Cycle, orders: list[dict], partners: dict[str, Decimal],
               supplier: str | None = None) -> SeededCycle:
    """`orders`: dicts with label, partner, status, net, net_currency, sell, sell_currency[, fx_rate,
    cancellation_fee (the partner's), supplier_fee, check_in, check_out]; `partners`: name -> commission_pct.
    A new supplier unless `supplier` names one."""
    tag = secrets.token_hex(3).upper()
    hotel = f"MH-SETTLE-{tag}"
    with engine.begin() as conn:
        if supplier is None:
            supplier = f"S{tag}"
            conn.execute(sa.text("INSERT INTO suppliers (code, name, protocol) VALUES (:c, :n, 'csv')"),
                         {"c": supplier, "n": f"Settlement test supplier {tag}"})
        conn.execute(sa.text("INSERT INTO master_hotels (id, name, city, country) VALUES (:id, 'Hotel', 'X', 'CN')"),
                     {"id": hotel})
    partner_ids = {}
    for name, commission in partners.items():
        credentials = create_partner(engine, f"{name} {tag}", commission_pct=commission)
        partner_ids[name] = str(credentials.partner_id)
    refs, order_ids = {}, {}
    with engine.begin() as conn:
        for i, order in enumerate(orders):
            ref = f"{tag}-{order['label']}"
            check_out = order.get("check_out", cycle.start + dt.timedelta(days=2))
            check_in = order.get("check_in", check_out - dt.timedelta(days=2))
            order_ids[order["label"]] = str(conn.execute(sa.text(
                "INSERT INTO orders (partner_id, status, our_reference, supplier_code, supplier_ref, hotel_id,"
                " check_in, check_out, net_amount, net_currency, fx_rate, sell_amount, sell_currency,"
                " cancellation_fee) VALUES (:p, :status, :our, :s, :ref, :h, :ci, :co, :net, :nc, :fx, :sell, :sc,"
                " :fee) RETURNING id"),
                {"p": partner_ids[order["partner"]], "status": order["status"], "our": f"HP-{tag}-{i}", "s": supplier,
                 "ref": ref, "h": hotel, "ci": check_in, "co": check_out, "net": Decimal(order["net"]),
                 "nc": order.get("net_currency", "USD"), "fx": Decimal(order.get("fx_rate", "1")),
                 "sell": Decimal(order["sell"]), "sc": order.get("sell_currency", "USD"),
                 "fee": Decimal(order["cancellation_fee"]) if order.get("cancellation_fee") else None}).scalar_one())
            refs[order["label"]] = ref
            if order["status"] == "CANCELLED":  # as the order service records a cancellation
                conn.execute(sa.text(
                    "INSERT INTO order_events (order_id, from_status, to_status, reason, payload) VALUES"
                    " (:id, 'CONFIRMED', 'CANCELLED', 'cancelled_by_partner', CAST(:payload AS jsonb))"),
                    {"id": order_ids[order["label"]], "payload": json.dumps({
                        "fee": {"amount": order.get("cancellation_fee", "0"), "currency": order.get("sell_currency",
                                                                                                     "USD")},
                        "supplier_fee": {"amount": order.get("supplier_fee", "0"),
                                         "currency": order.get("net_currency", "USD")}})})
    return SeededCycle(supplier, cycle, partner_ids, refs, order_ids)


def statement_csv(seeded: SeededCycle, lines: list[tuple[str, str, str, str]]) -> str:
    """(label or literal ref, status, amount, currency) rows for the seeded cycle's stay dates."""
    check_out = seeded.cycle.start + dt.timedelta(days=2)
    check_in = check_out - dt.timedelta(days=2)
    rows = [STATEMENT_HEADER]
    for label, status, amount, currency in lines:
        ref = seeded.refs.get(label, label)
        rows.append(f"{ref},{check_in},{check_out},{status},{amount},{currency}")
    return "\n".join(rows) + "\n"


STANDARD_ORDERS = [
    # label, partner, status, net, sell (USD unless said otherwise)
    {"label": "ok1", "partner": "Alpha", "status": "CONFIRMED", "net": "100.00", "sell": "130.00"},
    {"label": "ok2", "partner": "Beta", "status": "CONFIRMED", "net": "200.00", "sell": "250.00"},
    {"label": "amt", "partner": "Alpha", "status": "CONFIRMED", "net": "80.00", "sell": "99.99"},
    {"label": "gone", "partner": "Beta", "status": "CONFIRMED", "net": "50.00", "sell": "60.00"},
    {"label": "cxl", "partner": "Alpha", "status": "CANCELLED", "net": "70.00", "sell": "90.00",
     "cancellation_fee": "18.00", "supplier_fee": "15.00"},  # the partner pays 18, the supplier bills 15
    {"label": "eur", "partner": "Beta", "status": "CONFIRMED", "net": "40.00", "net_currency": "EUR",
     "sell": "330.00", "sell_currency": "CNY", "fx_rate": "7.80"},
]
STANDARD_PARTNERS = {"Alpha": Decimal("10"), "Beta": Decimal("2.5")}


def standard_statement(seeded: SeededCycle) -> str:
    return statement_csv(seeded, [
        ("ok1", "charged", "100.0", "USD"),
        ("ok2", "charged", "200.01", "USD"),      # within the tolerance
        ("amt", "charged", "85.00", "USD"),       # amount_mismatch +5
        ("cxl", "cancelled", "15", "USD"),        # the cancellation fee: agrees
        ("eur", "charged", "40", "EUR"),
        ("ok1", "charged", "100.00", "USD"),      # duplicate
        ("STRAY-1", "charged", "12.50", "USD"),   # missing_in_platform
    ])
