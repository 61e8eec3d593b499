"""Partner billing of the demo's closed cycles, as finance does it week by week: the cycle's partner statements
(what the Dagster asset `partner_statements` writes), then each demo partner's invoice issued a day to a few days
after the cycle ended, through finance's API, then the payments received for it: most in full within terms,
some in part, some not at all (overdue once due). Every date is yesterday at the latest: the warehouse backfill
that follows the seeding ends there, and its billing facts are keyed by issue and receipt day.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import httpx

from core.billing.statements import write_statements
from core.money import exponent
from core.settlement.cycles import Cycle

ISSUE_DELAY_DAYS = (1, 3)  # finance issues a cycle's invoices a day to a few days after it ends
# What a partner's invoices get in turn, oldest first. The next partner starts further along, so that the oldest
# invoices (past due by today) of each partner are settled differently: in full, in part, not at all.
OUTCOMES = ("paid", "partly", "paid", "open", "paid")
OFFSET = 3  # where the next partner starts in OUTCOMES
PART_PAID = (0.3, 0.7)  # the share of a partly paid invoice


@dataclass
class Billed:
    statements: int = 0
    invoices: int = 0
    payments: int = 0


def bill(client: httpx.Client, engine, settings, auth: dict[str, str], cycles: list[Cycle],
         currencies: dict[str, str | None], rng: random.Random, last_day: dt.date) -> Billed:
    """Statements, invoices and payments of `cycles` (oldest first) for the partners of `currencies` (top-level
    partner id → billing currency, None for the default), dated up to `last_day`."""
    billed = Billed()
    for partner_id, currency in currencies.items():
        if currency:  # a partner booking in another currency is billed in it: no rate of a past day needed
            client.put(f"/v1/billing/profiles/{partner_id}", headers=auth,
                       json={"currency": currency}).raise_for_status()
    numbers = {partner_id: OFFSET * n for n, partner_id in enumerate(currencies)}
    for cycle in cycles:
        # Cycle by cycle: a statement shows the documents and payments dated within its cycle, recorded before it.
        billed.statements += len(write_statements(engine, cycle, settings, run_id="demo-history").actions)
        for partner_id in currencies:
            issued_on = min(cycle.end + dt.timedelta(days=rng.randint(*ISSUE_DELAY_DAYS)), last_day)
            if issued_on < cycle.end:
                continue  # the cycle ended today: finance has not invoiced it yet
            invoice = _issue(client, auth, partner_id, cycle, issued_on)
            if invoice is None:
                continue
            billed.invoices += 1
            billed.payments += _pay(client, auth, invoice, OUTCOMES[numbers[partner_id] % len(OUTCOMES)], rng,
                                    last_day)
            numbers[partner_id] += 1
    return billed


def _issue(client: httpx.Client, auth: dict[str, str], partner_id: str, cycle: Cycle,
           issued_on: dt.date) -> dict | None:
    """The partner's invoice for the cycle, or None: no statement (nothing booked), nothing to bill, or already
    billed (a second seeding)."""
    response = client.post("/v1/billing/invoices", headers=auth, json={
        "partner_id": partner_id, "period_start": cycle.start.isoformat(), "issued_on": issued_on.isoformat()})
    if response.status_code in (404, 409):
        return None
    response.raise_for_status()
    return response.json()


def _pay(client: httpx.Client, auth: dict[str, str], invoice: dict, outcome: str, rng: random.Random,
         last_day: dt.date) -> int:
    """The payment `outcome` gives the invoice, if it was received by `last_day`: 1 recorded, else 0."""
    if outcome == "open":
        return 0
    issued_on, due_on = dt.date.fromisoformat(invoice["issued_on"]), dt.date.fromisoformat(invoice["due_on"])
    outstanding = Decimal(invoice["balance"]["outstanding"])
    terms = (due_on - issued_on).days
    if outcome == "paid":
        received_on = issued_on + dt.timedelta(days=rng.randint(min(5, terms), terms))
        amount = outstanding
    else:  # a part within terms; the rest stays open, overdue once due
        received_on = issued_on + dt.timedelta(days=rng.randint(min(10, terms), terms))
        amount = (outstanding * Decimal(str(round(rng.uniform(*PART_PAID), 2)))).quantize(
            exponent(invoice["currency"]), rounding=ROUND_DOWN)
    if received_on > last_day or amount <= 0:
        return 0  # not received yet: the invoice stays open
    client.post("/v1/billing/payments", headers=auth, json={
        "amount": str(amount), "currency": invoice["currency"], "received_on": received_on.isoformat(),
        "invoice": invoice["document_number"], "reference": invoice["document_number"]}).raise_for_status()
    return 1
