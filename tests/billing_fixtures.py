"""Billing test data: a cycle of orders for partners (one with a sub-agent), their own issuing entity, rates."""

from __future__ import annotations

import datetime as dt
import io
import secrets
from decimal import Decimal

import sqlalchemy as sa

from core.settlement.cycles import Cycle, cycle_containing
from tests.settlement_fixtures import SeededCycle, seed_cycle


def far_cycle(weeks_ahead: int) -> Cycle:
    """A cycle far from every other test's (and from today), so statements and documents of one test stay apart."""
    return cycle_containing(dt.date.today() + dt.timedelta(days=900 + 7 * weeks_ahead + secrets.randbelow(5000)))


def new_entity(engine) -> str:
    code = f"T{secrets.token_hex(3).upper()}"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO billing_entities (code, name, address, tax_id) VALUES"
                             " (:c, 'Test Billing Ltd', '1 Test Road, Shanghai', 'TAX-1')"), {"c": code})
    return code


def set_rate(engine, base: str, quote: str, rate: str, as_of: dt.date) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO fx_rates (base_currency, quote_currency, rate, as_of) VALUES (:b, :q, :r, :d)"
            " ON CONFLICT (base_currency, quote_currency, as_of) DO UPDATE SET rate = EXCLUDED.rate"),
            {"b": base, "q": quote, "r": Decimal(rate), "d": as_of})


def make_sub_agent(engine, child: str, parent: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE partners SET parent_id = CAST(:p AS uuid) WHERE id = CAST(:c AS uuid)"),
                     {"p": parent, "c": child})


def seed_billing_cycle(engine, cycle: Cycle, supplier: str | None = None) -> SeededCycle:
    """Parent (10 % commission) with Sub (5 %) under it, and Other (0 %); USD sells, one cancelled with a fee."""
    seeded = seed_cycle(engine, cycle, [
        {"label": "p1", "partner": "Parent", "status": "CONFIRMED", "net": "150", "sell": "200"},
        {"label": "s1", "partner": "Sub", "status": "CONFIRMED", "net": "80", "sell": "100"},
        {"label": "p2", "partner": "Parent", "status": "CANCELLED", "net": "90", "sell": "120",
         "cancellation_fee": "30", "supplier_fee": "20"},
        {"label": "o1", "partner": "Other", "status": "CONFIRMED", "net": "300", "sell": "400"},
    ], {"Parent": Decimal("10"), "Sub": Decimal("5"), "Other": Decimal("0")}, supplier=supplier)
    make_sub_agent(engine, seeded.partners["Sub"], seeded.partners["Parent"])
    return seeded


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
