"""Seeding the demo history through the platform's own paths: the partner API (quotes, orders, cancellations)
against the simulated suppliers, then finance's statement upload (each upload reconciles its cycle) and one
approval, then the partners' billing of those cycles (statements, invoices, payments: `core.demo.billing`); the
supplier rates of the past nights are those of the same weekday ahead (`core.demo.past_rates`).
`hotelctl up` runs it once on a fresh development platform, then backfills the warehouse.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import asyncpg
import httpx
import sqlalchemy as sa

from core.db import engine_for, plain_url
from core.demo import billing, past_rates, plan, statements, timetravel
from core.partners import DEMO_LOGINS, Credentials, ensure_demo_credentials
from core.settlement.cycles import Cycle, cycle_containing
from core.settlement.store import load_orders

RATE_LIMIT_RETRIES = 5
DEFAULT_DAYS = 63  # nine weeks: 60 days of trends and eight closed weekly cycles with stays in them
DEFAULT_SEED = 23
CITIES = 8  # the cities with the most hotels
HABITS = {  # by demo client id
    "demo-partner-a": plan.Habits(3, 0.35, 0.15, (2, 21), None),
    "demo-partner-b": plan.Habits(2.5, 0.25, 0.10, (1, 14), "USD"),
    "demo-partner-a1": plan.Habits(1.5, 0.40, 0.25, (3, 24), None),  # Demo Travel A's sub-agent
}
QUOTE_FLUSH_WAIT_S = 10.0


@dataclass
class Summary:
    days: int
    first_day: dt.date
    quotes: int = 0
    orders: dict[str, int] = field(default_factory=dict)  # by status
    cycles: int = 0
    cycles_with_discrepancies: int = 0
    approved_cycle: int | None = None
    statements: int = 0  # partner statements written
    invoices: int = 0  # partner invoices issued
    payments: int = 0  # partner payments recorded
    past_rates: int = 0  # supplier rates given to the past nights (`core.demo.past_rates`)

    def line(self) -> str:
        orders = ", ".join(f"{count} {status.lower()}" for status, count in sorted(self.orders.items()))
        return (f"demo history: {self.days} days from {self.first_day}, {self.quotes} quotes, orders: {orders}; "
                f"{self.cycles} settlement cycles ({self.cycles_with_discrepancies} with discrepancies, "
                f"cycle {self.approved_cycle} approved); {self.statements} partner statements, "
                f"{self.invoices} invoices issued, {self.payments} payments received; "
                f"{self.past_rates} supplier rates of past nights")


def already_seeded(database_url: str) -> bool:
    with engine_for(database_url).connect() as conn:
        return conn.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM orders o JOIN api_credentials c ON c.partner_id = o.partner_id"
            " WHERE c.client_id = ANY(:ids))"), {"ids": list(HABITS)}).scalar_one()


def seed(api_url: str, database_url: str, settings, *, days: int = DEFAULT_DAYS, seed_value: int = DEFAULT_SEED,
         scale: float = 1.0, echo: Callable[[str], None] = print,
         reconcile: Callable[[list[dt.date]], None] | None = None) -> Summary:
    """`days` days of partner activity ending today, then the supplier statements of the closed cycles (`scale`
    multiplies the volumes: a test draws fewer searches along the same paths), then the partners' statements,
    invoices and payments of those cycles. `reconcile(starts)`, when given, reconciles the cycles with statements
    again (as the weekly Dagster job would: the start of each) after the uploads and before finance approves one."""
    engine = engine_for(database_url)
    logins = {credentials.client_id: credentials
              for _name, credentials in ensure_demo_credentials(engine, settings.encryption_secret.get_secret_value())}
    today = dt.datetime.now(dt.UTC).date()
    summary = Summary(days, today - dt.timedelta(days=days - 1))
    with engine.connect() as conn:
        cities = [row.city for row in conn.execute(sa.text(
            "SELECT city FROM master_hotels GROUP BY city ORDER BY count(*) DESC, city LIMIT :n"), {"n": CITIES})]
    rng = random.Random(seed_value)
    with httpx.Client(base_url=api_url, timeout=60) as client:
        tokens = {client_id: _token(client, logins[client_id]) for client_id in HABITS}
        for number, day in enumerate(plan.draw(days, HABITS, cities, seed_value, scale)):
            _play_day(client, database_url, day, tokens, today, summary)
            if number % 7 == 6 or day.days_ago == 0:
                echo(f"  {today - dt.timedelta(days=day.days_ago)}: {summary.quotes} quotes so far")
        summary.past_rates = past_rates.carry_rates_back(engine, summary.first_day, today)
        finance = _staff_token(client, engine, settings, "finance")
        cycles = _closed_cycles(summary.first_day, settings.settle_cycle_days)
        _settle(client, engine, cycles, finance, summary, rng, reconcile)
        _bill(client, engine, settings, finance, logins, cycles, summary, rng)
    with engine.connect() as conn:
        summary.orders = dict(conn.execute(sa.text(
            "SELECT o.status, count(*) FROM orders o JOIN api_credentials c ON c.partner_id = o.partner_id"
            " WHERE c.client_id = ANY(:ids) GROUP BY o.status"), {"ids": list(HABITS)}).fetchall())
    return summary


def _token(client: httpx.Client, credentials: Credentials) -> str:
    response = client.post("/v1/auth/token", json={"client_id": credentials.client_id,
                                                   "client_secret": credentials.client_secret})
    response.raise_for_status()
    return f"Bearer {response.json()['access_token']}"


def _staff_token(client: httpx.Client, engine, settings, role: str) -> str:
    """A bearer token of the development platform's demo staff member of `role` (`core.staff.ensure_demo_staff`)."""
    from core.staff import ensure_demo_staff

    staff, password = next((staff, password) for staff, password in
                           ensure_demo_staff(engine, settings.encryption_secret.get_secret_value())
                           if staff.role == role)
    response = client.post("/v1/auth/staff-token", json={"username": staff.username, "password": password})
    response.raise_for_status()
    return f"Bearer {response.json()['access_token']}"


def _play_day(client: httpx.Client, database_url: str, day: plan.Day, tokens: dict[str, str], today: dt.date,
              summary: Summary) -> None:
    """One day's searches, bookings and cancellations made now (the partners side by side, each in order), then
    moved back to their day."""
    since = dt.datetime.now(dt.UTC)
    by_partner: dict[str, list[plan.Search]] = {}
    for search in day.searches:
        by_partner.setdefault(search.partner, []).append(search)
    with ThreadPoolExecutor(len(by_partner)) as pool:
        made = list(pool.map(lambda searches: _play_partner(client, searches, tokens, today), by_partner.values()))
    quote_ids = [quote for quotes, _ in made for quote in quotes]
    order_ids = [order for _, orders in made for order in orders]
    summary.quotes += len(quote_ids)
    asyncio.run(_travel(database_url, day.days_ago, quote_ids, order_ids, since))


def _play_partner(client: httpx.Client, searches: list[plan.Search], tokens: dict[str, str],
                  today: dt.date) -> tuple[list[str], list[str]]:
    """One partner's searches of a day through the partner API: (quote ids, order ids)."""
    quote_ids, order_ids = [], []
    for search in searches:
        auth = {"Authorization": tokens[search.partner]}
        check_in = today + dt.timedelta(days=search.lead_days)
        body = {"city": search.city, "check_in": check_in.isoformat(),
                "check_out": (check_in + dt.timedelta(days=search.nights)).isoformat(),
                "rooms": search.rooms, "adults": search.adults}
        if HABITS[search.partner].currency:
            body["currency"] = HABITS[search.partner].currency
        response = _post(client, "/v1/quotes", json=body, headers=auth)
        if response.status_code != 200:
            continue
        quote = response.json()
        quote_ids.append(quote["quote_id"])
        if not search.book or not quote["offers"]:
            continue
        offer = quote["offers"][min(search.offer_rank, len(quote["offers"]) - 1)]
        first, last = search.guest
        guests = [{"first_name": first, "last_name": last}] + [
            {"first_name": f"Guest{n}", "last_name": last} for n in range(1, search.adults)]
        response = _post(client, "/v1/orders", headers={**auth, "Idempotency-Key": f"demo-{quote['quote_id']}"}, json={
            "offer_id": offer["offer_id"], "guests": guests,
            "contact": {"name": f"{first} {last}", "email": f"{first.lower()}@example.com"}})
        order = response.json()
        if "order_id" not in order:
            continue  # refused (sold out, price changed, credit): the refusal is part of the history
        order_ids.append(order["order_id"])
        if search.cancel and order.get("status") in ("CONFIRMED", "PENDING", "REVIEW"):
            _post(client, f"/v1/orders/{order['order_id']}/cancel", headers=auth, json={"reason": "guest cancelled"})
    return quote_ids, order_ids


def _post(client: httpx.Client, url: str, **kwargs) -> httpx.Response:
    """A partner's call as a well-behaved client makes it: a 429 is waited out (its Retry-After) and sent again,
    so the history drawn does not depend on how fast this machine plays it against RATE_LIMIT_MAX."""
    for _ in range(RATE_LIMIT_RETRIES):
        response = client.post(url, **kwargs)
        if response.status_code != 429:
            return response
        time.sleep(min(float(response.headers.get("Retry-After") or 1), 60.0))
    return response


async def _travel(database_url: str, days: int, quote_ids: list[str], order_ids: list[str],
                  since: dt.datetime) -> None:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        deadline = time.monotonic() + QUOTE_FLUSH_WAIT_S  # the API writes quotes a moment after answering
        while (await conn.fetchval("SELECT count(*) FROM quotes WHERE id = ANY($1::uuid[])", quote_ids)
               < len(quote_ids) and time.monotonic() < deadline):
            await asyncio.sleep(0.1)
        await timetravel.shift_back(conn, days, quote_ids, order_ids, since)
    finally:
        await conn.close()


def _settle(client: httpx.Client, engine, cycles: list[Cycle], finance: str, summary: Summary, rng: random.Random,
            reconcile: Callable[[list[dt.date]], None] | None) -> None:
    """For each of the closed `cycles`, each supplier's statement, uploaded by finance (the upload reconciles the
    cycle); every third cycle's statements are clean. The oldest clean cycle that balances is approved."""
    settled: list[dt.date] = []
    auth = {"Authorization": finance}
    clean_ids = []
    for number, cycle in enumerate(cycles):
        faulty = number % 3 != 1
        with engine.connect() as conn:
            suppliers = [row.supplier_code for row in conn.execute(sa.text(
                "SELECT DISTINCT supplier_code FROM orders WHERE check_out >= :start AND check_out < :end"
                " AND status IN ('CONFIRMED', 'CANCELLED') ORDER BY 1"), {"start": cycle.start, "end": cycle.end})]
            frames = {code: load_orders(conn, code, cycle)[0] for code in suppliers}
        for code in suppliers:
            text = statements.statement_csv(frames[code], rng, faulty)
            response = client.post("/v1/settlements/statements", headers=auth, content=text.encode(),
                                   params={"supplier": code, "period_start": cycle.start.isoformat(),
                                           "filename": f"{code}-statement-{cycle.start}.csv"})
            response.raise_for_status()
            result = response.json()["cycle"]
            summary.cycles += 1
            if result["counts"]["discrepancies"]:
                summary.cycles_with_discrepancies += 1
            elif not faulty:
                clean_ids.append(result["id"])
        settled += [cycle.start] if suppliers else []
    if reconcile is not None and settled:
        reconcile(settled)
    for cycle_id in clean_ids:
        if client.post(f"/v1/settlements/cycles/{cycle_id}/approve", headers=auth).status_code == 200:
            summary.approved_cycle = cycle_id
            return


def _closed_cycles(first_day: dt.date, cycle_days: int) -> list[Cycle]:
    """The settlement cycles from the one holding `first_day` to the last that has ended, oldest first."""
    today = dt.datetime.now(dt.UTC).date()
    cycles = [cycle_containing(first_day, cycle_days)]
    while cycles[-1].end <= today:
        cycles.append(cycle_containing(cycles[-1].end, cycle_days))
    return cycles[:-1]


def _bill(client: httpx.Client, engine, settings, finance: str, logins: dict[str, Credentials], cycles: list[Cycle],
          summary: Summary, rng: random.Random) -> None:
    """The demo's top-level partners billed for the closed cycles (a sub-agent through its parent), each in the
    currency it books in, dated up to yesterday (the last day `hotelctl up` backfills)."""
    currencies = {str(logins[client_id].partner_id): HABITS[client_id].currency
                  for _name, _role, client_id, parent in DEMO_LOGINS if parent is None}
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    billed = billing.bill(client, engine, settings, {"Authorization": finance},
                          cycles, currencies, rng, yesterday)
    summary.statements, summary.invoices, summary.payments = billed.statements, billed.invoices, billed.payments
