"""Weekly partner statements: per top-level partner, every booking of the cycle (by check-out date, as the
settlement reconciliation counts them) with sell price, commission, what the partner owes and the platform's
margin, totals per currency and per agent (sub-agents shown apart under their parent), and the account's
opening balance, documents issued, payments received and closing balance in the billing currency.

A rerun replaces a statement nothing was issued from. Once an invoice was issued from it, a statement never
changes (the database refuses it); if that invoice was fully credited, the rerun writes revision + 1, which
a new invoice may bill. The platform has no no-show state: a no-show is billed as the confirmed booking it is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.billing.store import ROOTS_SQL, ZERO, partner_key, profile
from core.money import exponent
from core.settlement.cycles import Cycle
from core.settlement.money_totals import OrderMoney, order_charge

MARGIN_PLACES = Decimal("0.0001")
LINE_COLUMNS = ("order_id", "agent_id", "our_reference", "hotel_id", "check_in", "check_out", "status",
                "sell_amount", "cancellation_fee", "commission", "charge", "margin", "currency")


@dataclass(frozen=True)
class Line:
    order_id: str
    agent_id: str
    agent_name: str
    our_reference: str
    hotel_id: str
    check_in: dt.date
    check_out: dt.date
    status: str  # confirmed | cancelled
    sell_amount: Decimal
    cancellation_fee: Decimal | None
    commission: Decimal
    charge: Decimal
    margin: Decimal
    currency: str

    def row(self) -> dict:
        return {name: getattr(self, name) for name in LINE_COLUMNS}


@dataclass
class CycleStatements:
    cycle: Cycle
    actions: dict[str, str] = field(default_factory=dict)  # root partner id → created|replaced|new_revision|kept
    names: dict[str, str] = field(default_factory=dict)
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # currency → orders/sell/charges/margin
    lines: int = 0

    def metadata(self) -> dict:
        return {"cycle": f"{self.cycle.start} to {self.cycle.end} (exclusive)", "statements": len(self.actions),
                "lines": self.lines,
                "actions": {self.names[p]: a for p, a in sorted(self.actions.items(), key=lambda i: self.names[i[0]])},
                "totals_by_currency": _json_totals(self.totals)}


ORDERS_SQL = ROOTS_SQL + (
    " SELECT o.id::text AS order_id, o.partner_id::text AS agent_id, p.name AS agent_name, t.root::text AS root,"
    " o.our_reference, o.hotel_id, o.check_in, o.check_out, o.status, o.net_amount, o.net_currency, o.sell_amount,"
    " o.sell_currency, o.fx_rate, o.cancellation_fee, p.commission_pct, fee.supplier_fee"
    " FROM orders o JOIN partners p ON p.id = o.partner_id JOIN tree t ON t.id = o.partner_id"
    # the supplier's own cancellation fee is on the event that cancelled a confirmed order (as settlement reads it)
    " LEFT JOIN LATERAL (SELECT (e.payload -> 'supplier_fee' ->> 'amount')::numeric AS supplier_fee"
    "   FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'CANCELLED'"
    "   ORDER BY e.id DESC LIMIT 1) fee ON o.status = 'CANCELLED'"
    " WHERE o.check_out >= :start AND o.check_out < :end AND o.status IN ('CONFIRMED', 'CANCELLED')"
)


def cycle_lines(conn: Connection, cycle: Cycle) -> dict[str, list[Line]]:
    """The cycle's billable bookings, by the top-level partner that is billed for them."""
    rows = conn.execute(sa.text(ORDERS_SQL + " ORDER BY o.check_out, o.our_reference"),
                        {"start": cycle.start, "end": cycle.end}).mappings()
    by_root: dict[str, list[Line]] = defaultdict(list)
    for r in rows:
        money = OrderMoney(r["order_id"], r["agent_id"], r["agent_name"], r["commission_pct"], r["status"],
                           r["net_amount"], r["net_currency"], r["sell_amount"], r["sell_currency"], r["fx_rate"],
                           r["cancellation_fee"], r["supplier_fee"])
        charge, cost = order_charge(money)
        cancelled = r["status"] == "CANCELLED"
        by_root[r["root"]].append(Line(
            r["order_id"], r["agent_id"], r["agent_name"], r["our_reference"], r["hotel_id"], r["check_in"],
            r["check_out"], "cancelled" if cancelled else "confirmed", r["sell_amount"], r["cancellation_fee"],
            ZERO if cancelled else r["sell_amount"] - charge, charge, charge - cost, r["sell_currency"]))
    return by_root


def totals_of(lines: list[Line]) -> dict[str, dict[str, Decimal]]:
    totals: dict[str, dict[str, Decimal]] = {}
    for line in lines:
        entry = totals.setdefault(line.currency, {"orders": ZERO, "sell": ZERO, "commission": ZERO,
                                                  "charges": ZERO, "margin": ZERO})
        entry["orders"] += 1
        entry["sell"] += line.sell_amount if line.status == "confirmed" else ZERO
        entry["commission"] += line.commission
        entry["charges"] += line.charge
        entry["margin"] += line.margin
    return totals


def agents_of(lines: list[Line]) -> list[dict]:
    """Each agent's own subtotal per currency (the parent's own bookings and each sub-agent's apart)."""
    by_agent: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        by_agent[line.agent_id].append(line)
    return [{"agent_id": agent, "agent_name": items[0].agent_name,
             "totals": _json_totals(totals_of(items))} for agent, items in sorted(by_agent.items())]


def _json_totals(totals: dict[str, dict[str, Decimal]]) -> dict:
    """Amounts to the currency's minor unit, the margin to the 4 places costs are kept in, orders as a count."""
    def shown(key: str, value: Decimal, currency: str) -> str:
        if key == "orders":
            return str(int(value))
        return str(value.quantize(MARGIN_PLACES if key == "margin" else exponent(currency)))

    return {c: {k: shown(k, v, c) for k, v in t.items()} for c, t in sorted(totals.items())}


def account_movements(conn: Connection, partner_id: str, currency: str, cycle: Cycle) -> tuple[Decimal, ...]:
    """(opening, documents issued, payments received) of the partner's account in `currency` for the cycle:
    invoices less credit notes by issue date, payments by the day they were received."""
    row = conn.execute(sa.text(
        "WITH moves AS ("
        " SELECT issued_on AS day, CASE kind WHEN 'invoice' THEN total ELSE -total END AS billed, 0 AS paid"
        "   FROM billing_documents WHERE partner_id = CAST(:p AS uuid) AND currency = :c"
        " UNION ALL SELECT received_on, 0, amount FROM billing_payments"
        "   WHERE partner_id = CAST(:p AS uuid) AND currency = :c)"
        " SELECT COALESCE(sum(billed - paid) FILTER (WHERE day < :start), 0) AS opening,"
        " COALESCE(sum(billed) FILTER (WHERE day >= :start AND day < :end), 0) AS billed,"
        " COALESCE(sum(paid) FILTER (WHERE day >= :start AND day < :end), 0) AS paid FROM moves"),
        {"p": partner_id, "c": currency, "start": cycle.start, "end": cycle.end}).one()
    return row.opening, row.billed, row.paid


def _active_roots(conn: Connection, cycle: Cycle) -> list[str]:
    """Partners with documents or payments up to the cycle's end: their statement shows the account."""
    rows = conn.execute(sa.text(
        "SELECT partner_id::text FROM billing_documents WHERE issued_on < :end"
        " UNION SELECT partner_id::text FROM billing_payments WHERE received_on < :end"), {"end": cycle.end})
    return [r[0] for r in rows]


def write_statements(engine: Engine, cycle: Cycle, settings, run_id: str | None = None) -> CycleStatements:
    """Build and store every partner's statement for the cycle, in one transaction."""
    outcome = CycleStatements(cycle)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('partner_statements:' || :k))"),
                     {"k": cycle.key})
        by_root = cycle_lines(conn, cycle)
        for root in _active_roots(conn, cycle):
            by_root.setdefault(root, [])
        for root, lines in sorted(by_root.items()):
            account = profile(conn, root, settings)
            movements = account_movements(conn, root, account.currency, cycle)
            if not lines and not any(movements):
                continue  # nothing booked, owed or paid: no statement
            outcome.names[root] = account.name
            outcome.actions[root] = _write_one(conn, cycle, root, account.currency, lines, movements, run_id)
            outcome.lines += len(lines)
            for currency, entry in totals_of(lines).items():
                total = outcome.totals.setdefault(currency, {k: ZERO for k in entry})
                for key, value in entry.items():
                    total[key] += value
    return outcome


def _write_one(conn: Connection, cycle: Cycle, partner_id: str, currency: str, lines: list[Line],
               movements: tuple[Decimal, ...], run_id: str | None) -> str:
    latest = conn.execute(sa.text(
        "SELECT s.id, s.revision, EXISTS (SELECT 1 FROM billing_documents d WHERE d.statement_id = s.id) AS issued,"
        " NOT EXISTS (SELECT 1 FROM billing_invoice_balances b JOIN billing_documents d ON d.id = b.id"
        "   WHERE d.statement_id = s.id AND (b.credited < b.total OR b.paid > 0)) AS all_credited"
        " FROM partner_statements s WHERE s.partner_id = CAST(:p AS uuid) AND s.period_start = :start"
        " ORDER BY s.revision DESC LIMIT 1 FOR UPDATE OF s"), {"p": partner_id, "start": cycle.start}).first()
    if latest is not None and latest.issued and not latest.all_credited:
        return "kept (invoiced)"
    opening, billed, paid = movements
    values = {"p": partner_id, "start": cycle.start, "end": cycle.end, "currency": currency,
              "totals": json.dumps(_json_totals(totals_of(lines))), "agents": json.dumps(agents_of(lines)),
              "opening": opening, "billed": billed, "paid": paid, "closing": opening + billed - paid, "run": run_id}
    if latest is not None and not latest.issued:
        statement_id, action = latest.id, "replaced"
        conn.execute(sa.text("DELETE FROM partner_statement_lines WHERE statement_id = :id"), {"id": statement_id})
        conn.execute(sa.text(
            "UPDATE partner_statements SET period_end = :end, billing_currency = :currency,"
            " totals = CAST(:totals AS jsonb), agents = CAST(:agents AS jsonb), opening_balance = :opening,"
            " invoiced = :billed, payments_received = :paid, closing_balance = :closing, run_id = :run,"
            " created_at = now() WHERE id = :id"), {**values, "id": statement_id})
    else:
        revision = 1 if latest is None else latest.revision + 1
        action = "created" if latest is None else "new_revision"
        statement_id = conn.execute(sa.text(
            "INSERT INTO partner_statements (partner_id, period_start, period_end, revision, billing_currency, totals,"
            " agents, opening_balance, invoiced, payments_received, closing_balance, run_id) VALUES (CAST(:p AS uuid),"
            " :start, :end, :revision, :currency, CAST(:totals AS jsonb), CAST(:agents AS jsonb), :opening, :billed,"
            " :paid, :closing, :run) RETURNING id"), {**values, "revision": revision}).scalar_one()
    if lines:
        conn.execute(sa.text(
            f"INSERT INTO partner_statement_lines (statement_id, {', '.join(LINE_COLUMNS)}) VALUES (:sid, "
            + ", ".join(f"CAST(:{c} AS uuid)" if c in ("order_id", "agent_id") else f":{c}" for c in LINE_COLUMNS)
            + ")"), [{"sid": statement_id, **line.row()} for line in lines])
    return action


# --- what finance and partners read ---------------------------------------------------------------------------

STATEMENT_COLUMNS = (
    "s.id, s.partner_id::text AS partner_id, p.name AS partner_name, s.period_start, s.period_end, s.revision,"
    " s.billing_currency, s.totals, s.agents, s.opening_balance, s.invoiced, s.payments_received, s.closing_balance,"
    " s.created_at, (SELECT d.document_number FROM billing_documents d WHERE d.statement_id = s.id"
    "   AND d.kind = 'invoice' ORDER BY d.number DESC LIMIT 1) AS invoice_number"
)


def _statement_json(row) -> dict:
    return {"id": row["id"], "partner_id": row["partner_id"], "partner_name": row["partner_name"],
            "period_start": row["period_start"].isoformat(), "period_end": row["period_end"].isoformat(),
            "revision": row["revision"], "totals": row["totals"], "agents": row["agents"],
            "balance": {"currency": row["billing_currency"], "opening": str(row["opening_balance"]),
                        "invoiced": str(row["invoiced"]), "payments_received": str(row["payments_received"]),
                        "closing": str(row["closing_balance"])},
            "invoice_number": row["invoice_number"], "created_at": row["created_at"].isoformat()}


def list_statements(engine: Engine, partner_id: str | None = None, period_start: dt.date | None = None,
                    limit: int = 200) -> list[dict]:
    """Latest revision of each statement, newest cycle first (a partner's own only when `partner_id` is given)."""
    where, params = ["NOT EXISTS (SELECT 1 FROM partner_statements n WHERE n.partner_id = s.partner_id"
                     " AND n.period_start = s.period_start AND n.revision > s.revision)"], {"limit": limit}
    if partner_id:
        where.append("s.partner_id = CAST(:p AS uuid)")
        params["p"] = partner_key(partner_id)
    if period_start:
        where.append("s.period_start = :start")
        params["start"] = period_start
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT {STATEMENT_COLUMNS} FROM partner_statements s JOIN partners p ON p.id = s.partner_id"
            f" WHERE {' AND '.join(where)} ORDER BY s.period_start DESC, p.name LIMIT :limit"), params).mappings()
        return [_statement_json(r) for r in rows]


def get_statement(engine: Engine, statement_id: int, partner_id: str | None = None) -> dict | None:
    """One statement with its lines (grouped by agent in the order shown), or None (another partner's too)."""
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            f"SELECT {STATEMENT_COLUMNS} FROM partner_statements s JOIN partners p ON p.id = s.partner_id"
            " WHERE s.id = :id AND (CAST(:p AS uuid) IS NULL OR s.partner_id = CAST(:p AS uuid))"),
            {"id": statement_id, "p": partner_id}).mappings().first()
        if row is None:
            return None
        lines = conn.execute(sa.text(
            "SELECT l.*, a.name AS agent_name FROM partner_statement_lines l JOIN partners a ON a.id = l.agent_id"
            " WHERE l.statement_id = :id"
            " ORDER BY (l.agent_id <> CAST(:root AS uuid)), a.name, l.check_out, l.our_reference"),
            {"id": statement_id, "root": row["partner_id"]}).mappings().fetchall()
    body = _statement_json(row)
    body["lines"] = [{"order_id": str(r["order_id"]), "agent_id": str(r["agent_id"]), "agent_name": r["agent_name"],
                      "our_reference": r["our_reference"], "hotel_id": r["hotel_id"],
                      "check_in": r["check_in"].isoformat(), "check_out": r["check_out"].isoformat(),
                      "status": r["status"], "sell_amount": str(r["sell_amount"]),
                      "cancellation_fee": None if r["cancellation_fee"] is None else str(r["cancellation_fee"]),
                      "commission": str(r["commission"]), "charge": str(r["charge"]), "margin": str(r["margin"]),
                      "currency": r["currency"]} for r in lines]
    return body


# --- the asset's checks ---------------------------------------------------------------------------------------

def verify_cycle(engine: Engine, cycle: Cycle) -> dict[str, list[str]]:
    """Problems found in the cycle's latest statements: totals that are not the sum of their lines, and lines
    that are not the cycle's orders (missing, twice, or with another amount than the orders give now)."""
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT s.id, s.partner_id::text AS partner_id, s.totals, l.order_id::text AS order_id, l.charge,"
            " l.sell_amount, l.status, l.currency FROM partner_statements s"
            " LEFT JOIN partner_statement_lines l ON l.statement_id = s.id WHERE s.period_start = :start"
            " AND NOT EXISTS (SELECT 1 FROM partner_statements n WHERE n.partner_id = s.partner_id"
            "   AND n.period_start = s.period_start AND n.revision > s.revision)"),
            {"start": cycle.start}).mappings().fetchall()
        expected = {line.order_id: (root, line) for root, lines in cycle_lines(conn, cycle).items() for line in lines}
    totals: dict[int, dict] = {}
    sums: dict[int, dict[str, dict[str, Decimal]]] = defaultdict(dict)
    seen: dict[str, int] = defaultdict(int)
    not_matching: list[str] = []
    for r in stored:
        totals[r["id"]] = r["totals"]
        if r["order_id"] is None:
            continue
        entry = sums[r["id"]].setdefault(r["currency"], {"charges": ZERO, "sell": ZERO})
        entry["charges"] += r["charge"]
        entry["sell"] += r["sell_amount"] if r["status"] == "confirmed" else ZERO
        seen[r["order_id"]] += 1
        root, line = expected.get(r["order_id"], (None, None))
        if line is None or root != r["partner_id"] or line.charge != r["charge"] or line.currency != r["currency"]:
            not_matching.append(r["order_id"])
    unequal = [str(sid) for sid, stated in totals.items()
               if {c: {k: Decimal(t[k]) for k in ("charges", "sell")} for c, t in stated.items()} != sums[sid]]
    return {"totals_not_sum_of_lines": unequal,
            "orders_missing": sorted(set(expected) - set(seen)),
            "orders_twice": sorted(o for o, n in seen.items() if n > 1),
            "lines_not_matching_orders": sorted(not_matching)}
