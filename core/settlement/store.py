"""Persist one supplier's cycle: load its orders and statement, reconcile, write the results.

A rerun replaces the cycle's lines, discrepancies and journal in one transaction (never
duplicating them) and keeps finance's resolutions of discrepancies that are still there. A cycle
that was approved is never rewritten: the rerun marks it `superseded` and writes revision + 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.settlement.amounts import format_decimal, to_decimal, to_units
from core.settlement.csvio import read_statement_text
from core.settlement.cycles import Cycle, cycle_starting
from core.settlement.engine import CLASSES, Reconciliation, reconcile
from core.settlement.money_totals import CycleMoney, OrderMoney, cycle_money, journal_balance
from core.settlement.review import ReviewError

DEFAULT_TOLERANCE = Decimal("0.01")
STATUS_MAP = {"CONFIRMED": "confirmed", "CANCELLED": "cancelled"}  # the platform has no no_show state


@dataclass(frozen=True)
class CycleOutcome:
    cycle_id: int
    supplier_code: str
    period_start: dt.date
    revision: int
    action: str  # created | replaced | new_revision
    superseded_revision: int | None
    counts: dict
    totals: dict
    balance: dict[str, tuple[Decimal, Decimal]]

    @property
    def balanced(self) -> bool:
        return all(debit == credit for debit, credit in self.balance.values())


def load_orders(conn: Connection, supplier_code: str, cycle: Cycle) -> tuple[pl.DataFrame, list[OrderMoney]]:
    """The cycle's orders (by check-out date): the engine's frame and each order's money."""
    rows = conn.execute(sa.text(
        "SELECT o.id::text AS order_id, o.supplier_code, COALESCE(o.supplier_ref, '') AS supplier_ref, o.hotel_id,"
        " o.check_in, o.check_out, o.status, o.net_amount, o.net_currency, o.sell_amount, o.sell_currency,"
        " o.fx_rate, o.cancellation_fee, o.partner_id::text AS partner_id, p.name AS partner_name,"
        " p.commission_pct, fee.supplier_fee FROM orders o JOIN partners p ON p.id = o.partner_id"
        # The supplier's own cancellation fee is recorded on the event that cancelled a confirmed order.
        " LEFT JOIN LATERAL (SELECT (e.payload -> 'supplier_fee' ->> 'amount')::numeric AS supplier_fee"
        "   FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'CANCELLED'"
        "   ORDER BY e.id DESC LIMIT 1) fee ON o.status = 'CANCELLED'"
        " WHERE o.supplier_code = :code AND o.check_out >= :start AND o.check_out < :end"
        " AND o.status IN ('CONFIRMED', 'CANCELLED') ORDER BY o.check_out, o.id"),
        {"code": supplier_code, "start": cycle.start, "end": cycle.end}).mappings().fetchall()
    money = [OrderMoney(r["order_id"], r["partner_id"], r["partner_name"], r["commission_pct"], r["status"],
                        r["net_amount"], r["net_currency"], r["sell_amount"], r["sell_currency"], r["fx_rate"],
                        r["cancellation_fee"], r["supplier_fee"]) for r in rows]
    # What the supplier should bill: the net cost, or for a cancelled order its own cancellation fee.
    amounts = [to_units(r["supplier_fee"] or 0) if r["status"] == "CANCELLED" else to_units(r["net_amount"])
               for r in rows]
    frame = pl.DataFrame({
        "order_id": [r["order_id"] for r in rows],
        "supplier_code": [r["supplier_code"] for r in rows],
        "supplier_ref": [r["supplier_ref"].strip() for r in rows],
        "hotel_id": [r["hotel_id"] for r in rows],
        "key": [r["supplier_ref"].strip().lower() for r in rows],
        "check_in": [r["check_in"] for r in rows],
        "check_out": [r["check_out"] for r in rows],
        "status": [STATUS_MAP[r["status"]] for r in rows],
        "amount": amounts,
        "currency": [r["net_currency"] for r in rows],
        "line": list(range(1, len(rows) + 1)),
    }, schema={"order_id": pl.String, "supplier_code": pl.String, "supplier_ref": pl.String, "hotel_id": pl.String,
               "key": pl.String, "check_in": pl.Date, "check_out": pl.Date, "status": pl.String, "amount": pl.Int64,
               "currency": pl.String, "line": pl.Int64})
    return frame, money


def statement_frame(lines: list) -> pl.DataFrame:
    """Adapter `StatementLine`s (Money amounts) as the engine's statement frame, in the supplier's order."""
    return pl.DataFrame({
        "supplier_ref": [line.supplier_ref.strip() for line in lines],
        "key": [line.supplier_ref.strip().lower() for line in lines],
        "check_in": [line.check_in for line in lines],
        "check_out": [line.check_out for line in lines],
        "status": [line.status.strip().lower() for line in lines],
        "amount": [to_units(line.amount.amount) for line in lines],
        "currency": [line.amount.currency for line in lines],
        "line": list(range(1, len(lines) + 1)),
    }, schema={"supplier_ref": pl.String, "key": pl.String, "check_in": pl.Date, "check_out": pl.Date,
               "status": pl.String, "amount": pl.Int64, "currency": pl.String, "line": pl.Int64})


def fetch_statement(settings, supplier_code: str, cycle: Cycle) -> list:
    """The supplier's statement for the cycle through its adapter (lines checking out in [start, end))."""
    from core.suppliers.registry import adapter_for

    async def collect() -> list:
        adapter = adapter_for(supplier_code, settings)
        try:
            return [line async for line in adapter.statement(cycle.start, cycle.end)]
        finally:
            closer = getattr(adapter, "aclose", None)
            if closer is not None:
                await closer()

    return asyncio.run(collect())


def latest_upload(engine: Engine, supplier_code: str, cycle: Cycle):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, filename, content, uploaded_by, uploaded_at FROM settlement_statements"
            " WHERE supplier_code = :code AND period_start = :start ORDER BY id DESC LIMIT 1"),
            {"code": supplier_code, "start": cycle.start}).first()


def statement_for_cycle(engine: Engine, settings, supplier_code: str, cycle: Cycle) -> tuple[pl.DataFrame, str]:
    """Finance's latest upload for the cycle when there is one, else the adapter's statement."""
    upload = latest_upload(engine, supplier_code, cycle)
    if upload is not None:
        frame = read_statement_text(upload.content, name=f"upload #{upload.id} ({upload.filename or 'statement'})")
        return frame, f"upload #{upload.id} by {upload.uploaded_by}"
    return statement_frame(fetch_statement(settings, supplier_code, cycle)), "adapter"


def store_upload(engine: Engine, supplier_code: str, cycle: Cycle, content: str, filename: str | None,
                 uploaded_by: str) -> dict:
    """Validate (raises csvio.InputError with line and column) and keep an uploaded statement."""
    frame = read_statement_text(content, name=filename or "statement.csv")
    with engine.begin() as conn:
        row = conn.execute(sa.text(
            "INSERT INTO settlement_statements (supplier_code, period_start, filename, content, line_count,"
            " uploaded_by) VALUES (:code, :start, :filename, :content, :n, :by) RETURNING id, uploaded_at"),
            {"code": supplier_code, "start": cycle.start, "filename": filename, "content": content,
             "n": frame.height, "by": uploaded_by}).one()
    return {"id": row.id, "supplier_code": supplier_code, "period_start": cycle.start.isoformat(),
            "lines": frame.height, "uploaded_by": uploaded_by, "uploaded_at": row.uploaded_at.isoformat()}


def upload_statement(engine: Engine, settings, supplier_code: str, period_start: dt.date, content: str,
                     filename: str | None, uploaded_by: str, run: bool = True) -> dict:
    """Keep finance's statement for the cycle starting `period_start` and (when `run`) reconcile the cycle on it.

    Raises review.ReviewError (unknown supplier, a day that starts no cycle) or csvio.InputError (the CSV).
    """
    try:
        cycle = cycle_starting(period_start, settings.settle_cycle_days)
    except ValueError as error:
        raise ReviewError("invalid", str(error), "period_start") from None
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT 1 FROM suppliers WHERE code = :c"), {"c": supplier_code}).first() is None:
            raise ReviewError("not_found", f"no supplier {supplier_code!r}")
    upload = store_upload(engine, supplier_code, cycle, content, filename, uploaded_by)
    if run:
        frame, source = statement_for_cycle(engine, settings, supplier_code, cycle)
        outcome = run_cycle(engine, supplier_code, cycle, frame, source, run_id=f"upload:{upload['id']}")
        upload["cycle"] = {"id": outcome.cycle_id, "revision": outcome.revision, "action": outcome.action,
                           "superseded_revision": outcome.superseded_revision, "counts": outcome.counts}
    return upload


def _totals_json(result: Reconciliation, money: CycleMoney, source: str, tolerance: Decimal) -> dict:
    by_currency = {
        currency: {"platform": format_decimal(to_decimal(entry["platform"]), currency),
                   "statement": format_decimal(to_decimal(entry["statement"]), currency),
                   "difference": format_decimal(to_decimal(entry["statement"] - entry["platform"]), currency),
                   "in_discrepancies": format_decimal(to_decimal(entry["discrepancy_difference"]), currency)}
        for currency, entry in result.totals.items()
    }
    return {**money.as_json(), "by_currency": by_currency, "statement_source": source, "tolerance": str(tolerance)}


def _counts_json(result: Reconciliation, orders: int, statement_lines: int) -> dict:
    return {**{name: result.counts.get(name, 0) for name in (*CLASSES, "matched", "not_billed")},
            "pairs": result.pairs, "discrepancies": result.discrepancy_count, "orders": orders,
            "statement_lines": statement_lines}


def run_cycle(engine: Engine, supplier_code: str, cycle: Cycle, statement: pl.DataFrame, source: str,
              run_id: str | None = None, tolerance: Decimal = DEFAULT_TOLERANCE) -> CycleOutcome:
    """Reconcile one supplier's cycle and write it (created, replaced in place, or a new revision)."""
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('settlement:' || :code || ':' || :start))"),
                     {"code": supplier_code, "start": cycle.key})
        orders, money_rows = load_orders(conn, supplier_code, cycle)
        result = reconcile(orders, statement, to_units(tolerance))
        money = cycle_money(money_rows, supplier_code)
        totals = _totals_json(result, money, source, tolerance)
        counts = _counts_json(result, orders.height, statement.height)
        latest = conn.execute(sa.text(
            "SELECT id, revision, status FROM settlement_cycles WHERE supplier_code = :code AND period_start = :start"
            " ORDER BY revision DESC LIMIT 1 FOR UPDATE"), {"code": supplier_code, "start": cycle.start}).first()
        superseded = None
        resolutions: list = []
        params = {"code": supplier_code, "start": cycle.start, "end": cycle.end, "totals": json.dumps(totals),
                  "counts": json.dumps(counts), "run": run_id}
        if latest is not None and latest.status == "reconciled":
            cycle_id, revision, action = latest.id, latest.revision, "replaced"
            resolutions = conn.execute(sa.text(
                "SELECT class, lower(supplier_ref) AS key, platform_amount, statement_amount, resolution_note,"
                " resolved_by, resolved_at FROM settlement_discrepancies WHERE cycle_id = :id AND status = 'resolved'"),
                {"id": cycle_id}).mappings().fetchall()
            for table in ("settlement_discrepancies", "journal_entries", "settlement_lines"):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE cycle_id = :id"), {"id": cycle_id})
            conn.execute(sa.text(
                "UPDATE settlement_cycles SET totals = CAST(:totals AS jsonb), counts = CAST(:counts AS jsonb),"
                " run_id = :run, period_end = :end, created_at = now() WHERE id = :id"), {**params, "id": cycle_id})
        else:
            revision, action = 1, "created"
            if latest is not None:  # approved (the newest revision is never superseded): keep it, add a revision
                conn.execute(sa.text("UPDATE settlement_cycles SET status = 'superseded' WHERE id = :id"),
                             {"id": latest.id})
                revision, action, superseded = latest.revision + 1, "new_revision", latest.revision
            cycle_id = conn.execute(sa.text(
                "INSERT INTO settlement_cycles (supplier_code, period_start, period_end, revision, status, totals,"
                " counts, run_id) VALUES (:code, :start, :end, :revision, 'reconciled', CAST(:totals AS jsonb),"
                " CAST(:counts AS jsonb), :run) RETURNING id"), {**params, "revision": revision}).scalar_one()
        _write_lines(conn, cycle_id, result)
        conn.execute(sa.text(
            "INSERT INTO settlement_discrepancies (cycle_id, line_id, class, supplier_ref, order_id, platform_amount,"
            " statement_amount, difference, currency) SELECT cycle_id, id, class, supplier_ref, order_id,"
            " platform_amount, statement_amount, difference, currency FROM settlement_lines"
            " WHERE cycle_id = :id AND class NOT IN ('matched', 'not_billed') ORDER BY id"), {"id": cycle_id})
        for kept in resolutions:
            conn.execute(sa.text(
                "UPDATE settlement_discrepancies SET status = 'resolved', resolution_note = :note, resolved_by = :by,"
                " resolved_at = :at WHERE cycle_id = :id AND class = :class AND lower(supplier_ref) = :key"
                " AND platform_amount IS NOT DISTINCT FROM :pa AND statement_amount IS NOT DISTINCT FROM :sa"),
                {"note": kept["resolution_note"], "by": kept["resolved_by"], "at": kept["resolved_at"],
                 "id": cycle_id, "class": kept["class"], "key": kept["key"], "pa": kept["platform_amount"],
                 "sa": kept["statement_amount"]})
        if money.journal:
            conn.execute(sa.text(
                "INSERT INTO journal_entries (cycle_id, account, debit, credit, currency, memo)"
                " VALUES (:id, :account, :debit, :credit, :currency, :memo)"),
                [{"id": cycle_id, "account": a, "currency": c, "debit": d, "credit": cr, "memo": m}
                 for a, c, d, cr, m in money.journal])
        balance = cycle_journal_balance(conn, cycle_id)
    return CycleOutcome(cycle_id, supplier_code, cycle.start, revision, action, superseded, counts, totals, balance)


def _write_lines(conn: Connection, cycle_id: int, result: Reconciliation) -> None:
    raw = conn.connection.driver_connection
    columns = ("supplier_ref", "order_id", "class", "platform_amount", "statement_amount", "difference", "currency")
    with raw.cursor() as cursor, cursor.copy(
            f"COPY settlement_lines (cycle_id, {', '.join(columns)}) FROM STDIN") as copy:
        ordered = pl.concat([result.discrepancies.select(columns),
                             result.lines.filter(~pl.col("class").is_in(CLASSES)).select(columns)])
        for ref, order_id, cls, platform, statement, difference, currency in ordered.iter_rows():
            copy.write_row((cycle_id, ref, order_id, cls, to_decimal(platform), to_decimal(statement),
                            to_decimal(difference), currency))


def cycle_journal_balance(conn: Connection, cycle_id: int) -> dict[str, tuple[Decimal, Decimal]]:
    rows = conn.execute(sa.text("SELECT currency, debit, credit FROM journal_entries WHERE cycle_id = :id"),
                        {"id": cycle_id}).fetchall()
    return journal_balance([(row.currency, row.debit, row.credit) for row in rows])
