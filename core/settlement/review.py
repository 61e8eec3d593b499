"""Finance's view of settlement cycles: listings, one cycle, its discrepancies, resolve, approve, export."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import audit, csv_export
from core.settlement.amounts import format_decimal
from core.settlement.cycles import last_closed_cycle
from core.settlement.engine import CLASSES

CYCLE_COLUMNS = ("id, supplier_code, period_start, period_end, revision, status, totals, counts, run_id,"
                 " approved_by, approved_at, created_at")


class ReviewError(ValueError):
    """A refused review action: `code` for the API (not_found, conflict, invalid)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _cycle_dict(row) -> dict:
    data = dict(row)
    for key in ("period_start", "period_end"):
        data[key] = data[key].isoformat()
    for key in ("approved_at", "created_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def list_cycles(engine: Engine, supplier_code: str | None = None, status: str | None = None,
                include_superseded: bool = False, limit: int = 200) -> list[dict]:
    query = f"SELECT {CYCLE_COLUMNS} FROM settlement_cycles WHERE true"
    params: dict = {"limit": limit}
    if supplier_code:
        query += " AND supplier_code = :code"
        params["code"] = supplier_code
    if status:
        query += " AND status = :status"
        params["status"] = status
    elif not include_superseded:
        query += " AND status <> 'superseded'"
    query += " ORDER BY period_start DESC, supplier_code, revision DESC LIMIT :limit"
    with engine.connect() as conn:
        rows = conn.execute(sa.text(query), params).mappings().fetchall()
    return [_cycle_dict(row) for row in rows]


def get_cycle(engine: Engine, cycle_id: int) -> dict:
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT {CYCLE_COLUMNS} FROM settlement_cycles WHERE id = :id"),
                           {"id": cycle_id}).mappings().first()
        if row is None:
            raise ReviewError("not_found", f"no settlement cycle {cycle_id}")
        open_count = conn.execute(sa.text(
            "SELECT count(*) FILTER (WHERE status = 'open'), count(*) FROM settlement_discrepancies"
            " WHERE cycle_id = :id"), {"id": cycle_id}).one()
        journal = conn.execute(sa.text(
            "SELECT currency, sum(debit) AS debit, sum(credit) AS credit FROM journal_entries WHERE cycle_id = :id"
            " GROUP BY currency ORDER BY currency"), {"id": cycle_id}).fetchall()
    data = _cycle_dict(row)
    data["open_discrepancies"], data["discrepancies"] = int(open_count[0]), int(open_count[1])
    data["journal"] = {r.currency: {"debit": format_decimal(r.debit, r.currency),
                                    "credit": format_decimal(r.credit, r.currency), "balanced": r.debit == r.credit}
                       for r in journal}
    return data


def list_discrepancies(engine: Engine, cycle_id: int, cls: str | None = None, supplier_code: str | None = None,
                       min_amount: Decimal | None = None, status: str | None = None, limit: int = 1000,
                       offset: int = 0) -> list[dict]:
    """Filter by class, supplier, |difference| (or the present amount when a side is missing) ≥ min_amount."""
    if cls is not None and cls not in CLASSES:
        raise ReviewError("invalid", f"unknown class {cls!r}; one of {', '.join(CLASSES)}", "class")
    query = ("SELECT d.id, d.cycle_id, c.supplier_code, d.class, d.supplier_ref, d.order_id, d.platform_amount,"
             " d.statement_amount, d.difference, d.currency, d.status, d.resolution_note, d.resolved_by,"
             " d.resolved_at FROM settlement_discrepancies d JOIN settlement_cycles c ON c.id = d.cycle_id"
             " WHERE d.cycle_id = :id")
    params: dict = {"id": cycle_id, "limit": limit, "offset": offset}
    if cls:
        query += " AND d.class = :class"
        params["class"] = cls
    if supplier_code:
        query += " AND c.supplier_code = :code"
        params["code"] = supplier_code
    if status:
        query += " AND d.status = :status"
        params["status"] = status
    if min_amount is not None:
        query += (" AND abs(COALESCE(d.difference, d.statement_amount, d.platform_amount, 0)) >= :min")
        params["min"] = min_amount
    query += " ORDER BY d.id LIMIT :limit OFFSET :offset"
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM settlement_cycles WHERE id = :id"), {"id": cycle_id}).first()
        if exists is None:
            raise ReviewError("not_found", f"no settlement cycle {cycle_id}")
        rows = conn.execute(sa.text(query), params).mappings().fetchall()
    return [_discrepancy_dict(row) for row in rows]


def _discrepancy_dict(row) -> dict:
    data = dict(row)
    for key in ("platform_amount", "statement_amount", "difference"):
        data[key] = format_decimal(data[key], data["currency"])
    data["resolved_at"] = data["resolved_at"].isoformat() if data["resolved_at"] else None
    return data


def resolve_discrepancy(engine: Engine, discrepancy_id: int, note: str, who: str | audit.Actor) -> dict:
    note = (note or "").strip()
    if not note:
        raise ReviewError("invalid", "a resolution needs a note", "note")
    if len(note) > 2000:
        raise ReviewError("invalid", "the note is longer than 2000 characters", "note")
    with engine.begin() as conn:
        row = conn.execute(sa.text(
            "SELECT d.id, d.status, c.status AS cycle_status FROM settlement_discrepancies d"
            " JOIN settlement_cycles c ON c.id = d.cycle_id WHERE d.id = :id FOR UPDATE OF d"),
            {"id": discrepancy_id}).first()
        if row is None:
            raise ReviewError("not_found", f"no discrepancy {discrepancy_id}")
        if row.cycle_status != "reconciled":
            raise ReviewError("conflict", f"the cycle is {row.cycle_status}: its discrepancies can no longer change")
        conn.execute(sa.text(
            "UPDATE settlement_discrepancies SET status = 'resolved', resolution_note = :note, resolved_by = :who,"
            " resolved_at = now() WHERE id = :id"), {"id": discrepancy_id, "note": note, "who": audit.name_of(who)})
        updated = conn.execute(sa.text(
            "SELECT d.id, d.cycle_id, c.supplier_code, d.class, d.supplier_ref, d.order_id, d.platform_amount,"
            " d.statement_amount, d.difference, d.currency, d.status, d.resolution_note, d.resolved_by,"
            " d.resolved_at FROM settlement_discrepancies d JOIN settlement_cycles c ON c.id = d.cycle_id"
            " WHERE d.id = :id"), {"id": discrepancy_id}).mappings().one()
        audit.record_by(conn, who, "settlement.resolve", f"discrepancy:{discrepancy_id}", {"status": row.status},
                        {"status": "resolved", "cycle_id": updated["cycle_id"]}, note)
    return _discrepancy_dict(updated)


def approve_cycle(engine: Engine, cycle_id: int, who: str | audit.Actor) -> dict:
    """Approve a reconciled cycle; later reruns then produce a new revision instead of rewriting it."""
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT status FROM settlement_cycles WHERE id = :id FOR UPDATE"),
                           {"id": cycle_id}).first()
        if row is None:
            raise ReviewError("not_found", f"no settlement cycle {cycle_id}")
        if row.status != "reconciled":
            raise ReviewError("conflict", f"the cycle is already {row.status}")
        balance = conn.execute(sa.text(
            "SELECT currency FROM journal_entries WHERE cycle_id = :id GROUP BY currency"
            " HAVING sum(debit) <> sum(credit)"), {"id": cycle_id}).fetchall()
        if balance:
            raise ReviewError("conflict", "the journal does not balance in " + ", ".join(r.currency for r in balance))
        still_open = conn.execute(sa.text("SELECT count(*) FROM settlement_discrepancies"
                                          " WHERE cycle_id = :id AND status = 'open'"), {"id": cycle_id}).scalar_one()
        conn.execute(sa.text("UPDATE settlement_cycles SET status = 'approved', approved_by = :who,"
                             " approved_at = now() WHERE id = :id"), {"id": cycle_id, "who": audit.name_of(who)})
        # Approval closes the revision: what is open now is accepted as it stands, and the audit says how much.
        audit.record_by(conn, who, "settlement.approve", f"settlement_cycle:{cycle_id}", {"status": "reconciled"},
                        {"status": "approved", "open_discrepancies": still_open})
    return get_cycle(engine, cycle_id)


EXPORT_COLUMNS = ("supplier_ref", "order_id", "class", "platform_amount", "statement_amount", "difference",
                  "currency", "status", "resolution_note", "resolved_by", "resolved_at")


def export_csv(engine: Engine, cycle_id: int) -> str:
    """Every discrepancy of the cycle with its review state, as CSV text."""
    rows = list_discrepancies(engine, cycle_id, limit=1_000_000)
    buffer = io.StringIO()
    writer = csv_export.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in EXPORT_COLUMNS])
    return buffer.getvalue()


def journal_entries(engine: Engine, cycle_id: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT account, currency, debit, credit, memo FROM journal_entries"
                                    " WHERE cycle_id = :id ORDER BY currency, account"), {"id": cycle_id}).mappings()
        return [{**row, "debit": format_decimal(row["debit"], row["currency"]) if row["debit"] else None,
                 "credit": format_decimal(row["credit"], row["currency"]) if row["credit"] else None} for row in rows]


def unreconciled_seconds(engine: Engine, now: dt.datetime, timezone: str, days: int) -> dict[str, float]:
    """Per enabled supplier: how long ago the last closed cycle ended, if that cycle has no reconciliation
    (0 when it has one). The alert `SettlementCycleNotReconciled` fires past two days."""
    cycle = last_closed_cycle(now, timezone, days)
    ended = dt.datetime.combine(cycle.end, dt.time(), ZoneInfo(timezone))
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT s.code, EXISTS (SELECT 1 FROM settlement_cycles c WHERE c.supplier_code = s.code"
            " AND c.period_start = :start AND c.status <> 'superseded') AS done"
            " FROM suppliers s WHERE s.enabled ORDER BY s.code"), {"start": cycle.start}).all()
    return {row.code: 0.0 if row.done else max((now - ended).total_seconds(), 0.0) for row in rows}
