"""Payments: recorded one by one or from a bank statement CSV, allocated to invoices, the rest kept as credit.

A payment naming an invoice pays it first; one naming none pays the partner's open invoices oldest first.
What is left over is the partner's credit in that currency, applied to the next invoice when it is issued.
A bank line is matched to an invoice by the invoice number in its reference, else by an amount that equals
exactly one open invoice's outstanding amount in that currency; any other line waits for finance's review.
Importing the same file twice records nothing twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import audit
from core.billing.store import ZERO, BillingError, lock_partner, partner_key, post, receivable_account, rounded

BANK_COLUMNS = ("booked_on", "amount", "currency", "reference")
DOCUMENT_NUMBER = re.compile(r"\b[A-Z0-9]{2,10}-\d{6}\b")


def _open_invoices(conn: Connection, partner_id: str, currency: str) -> list:
    """The partner's open invoices in `currency`, oldest due first."""
    return conn.execute(sa.text(
        "SELECT id::text AS id, document_number, outstanding FROM billing_invoice_balances"
        " WHERE partner_id = CAST(:p AS uuid) AND currency = :c AND outstanding > 0"
        " ORDER BY due_on, document_number"), {"p": partner_id, "c": currency}).fetchall()


def _allocate(conn: Connection, payment_id: int, invoices: list, available: Decimal) -> list[dict]:
    allocations = []
    for invoice in invoices:
        if available <= 0:
            break
        amount = min(available, invoice.outstanding)
        conn.execute(sa.text("INSERT INTO payment_allocations (payment_id, document_id, amount)"
                             " VALUES (:pay, CAST(:doc AS uuid), :amount)"),
                     {"pay": payment_id, "doc": invoice.id, "amount": amount})
        allocations.append({"invoice": invoice.document_number, "amount": str(amount)})
        available -= amount
    return allocations


def _record(conn: Connection, partner_id: str, amount: Decimal, currency: str, received_on: dt.date,
            reference: str, recorded_by: str, method: str, invoice_id: str | None) -> dict:
    lock_partner(conn, partner_id)
    payment_id = conn.execute(sa.text(
        "INSERT INTO billing_payments (partner_id, received_on, amount, currency, reference, method, recorded_by)"
        " VALUES (CAST(:p AS uuid), :on, :amount, :c, :ref, :method, :by) RETURNING id"),
        {"p": partner_id, "on": received_on, "amount": amount, "c": currency, "ref": reference, "method": method,
         "by": recorded_by}).scalar_one()
    post(conn, received_on, [("bank", amount, ZERO, currency, f"payment {payment_id}"),
                             (receivable_account(partner_id), ZERO, amount, currency, f"payment {payment_id}")],
         payment_id=payment_id)
    targets = _open_invoices(conn, partner_id, currency)
    if invoice_id is not None:  # the named invoice only (nothing when it is paid already: all becomes credit)
        targets = [invoice for invoice in targets if invoice.id == invoice_id]
    allocations = _allocate(conn, payment_id, targets, amount)
    allocated = sum((Decimal(a["amount"]) for a in allocations), ZERO)
    return {"payment_id": payment_id, "partner_id": partner_id, "received_on": received_on.isoformat(),
            "amount": str(amount), "currency": currency, "reference": reference, "allocations": allocations,
            "credit": str(amount - allocated)}


def _amount(value: Decimal | str, currency: str, field: str = "amount") -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise BillingError("invalid", f"{field}: not a decimal amount: {value!r}", field) from None
    if not amount.is_finite() or amount <= 0:
        raise BillingError("invalid", f"{field}: a positive amount", field)
    if rounded(amount, currency) != amount:
        raise BillingError("invalid", f"{field}: more decimals than {currency} has", field)
    return rounded(amount, currency)


def record_payment(engine: Engine, partner_id: str | None, amount: Decimal | str, currency: str,
                   received_on: dt.date, recorded_by: str | audit.Actor, reference: str = "",
                   invoice: str | None = None) -> dict:
    """One payment; `invoice` (number or id) names what it pays, else the partner's oldest open invoices."""
    if len(currency) != 3 or not currency.isalpha():
        raise BillingError("invalid", f"currency: a three-letter ISO code, got {currency!r}", "currency")
    currency = currency.upper()
    value = _amount(amount, currency)
    partner_id = partner_key(partner_id) if partner_id else None
    with engine.begin() as conn:
        invoice_id = None
        if invoice:
            row = conn.execute(sa.text(
                "SELECT id::text AS id, partner_id::text AS partner_id, currency FROM billing_documents"
                " WHERE kind = 'invoice' AND (document_number = :k OR id::text = :k)"), {"k": invoice}).first()
            if row is None:
                raise BillingError("not_found", f"no invoice {invoice}", "invoice")
            if partner_id and row.partner_id != partner_id:
                raise BillingError("invalid", f"invoice {invoice} is another partner's", "invoice")
            if row.currency != currency:
                raise BillingError("invalid", f"invoice {invoice} is in {row.currency}, not {currency}", "currency")
            invoice_id, partner_id = row.id, row.partner_id
        if not partner_id:
            raise BillingError("invalid", "partner_id: name the partner or the invoice", "partner_id")
        if conn.execute(sa.text("SELECT 1 FROM partners WHERE id = CAST(:p AS uuid) AND parent_id IS NULL"),
                        {"p": partner_id}).first() is None:
            raise BillingError("not_found", f"no billed partner {partner_id} (sub-agents pay through their parent)",
                               "partner_id")
        payment = _record(conn, partner_id, value, currency, received_on, reference, audit.name_of(recorded_by),
                          "manual", invoice_id)
        audit.record_by(conn, recorded_by, "billing.record_payment", f"partner:{partner_id}", None,
                        {"payment_id": payment["payment_id"], "amount": value, "currency": currency,
                         "invoice": invoice, "reference": reference})
        return payment


def apply_credit(conn: Connection, partner_id: str, currency: str) -> list[dict]:
    """Spend the partner's unallocated payments (oldest first) on its open invoices (oldest first)."""
    payments = conn.execute(sa.text(
        "SELECT p.id, p.amount - COALESCE(sum(a.amount), 0) AS left_over FROM billing_payments p"
        " LEFT JOIN payment_allocations a ON a.payment_id = p.id WHERE p.partner_id = CAST(:p AS uuid)"
        " AND p.currency = :c GROUP BY p.id HAVING p.amount - COALESCE(sum(a.amount), 0) > 0"
        " ORDER BY p.received_on, p.id"), {"p": partner_id, "c": currency}).fetchall()
    applied = []
    for payment in payments:
        invoices = _open_invoices(conn, partner_id, currency)
        if not invoices:
            break
        applied += _allocate(conn, payment.id, invoices, payment.left_over)
    return applied


def credit_balances(conn: Connection, partner_id: str | None = None) -> dict[tuple[str, str], Decimal]:
    """(partner id, currency) → payments not yet allocated to any invoice."""
    rows = conn.execute(sa.text(
        "SELECT p.partner_id::text AS partner_id, p.currency, sum(p.amount - COALESCE(a.allocated, 0)) AS credit"
        " FROM billing_payments p LEFT JOIN (SELECT payment_id, sum(amount) AS allocated FROM payment_allocations"
        " GROUP BY payment_id) a ON a.payment_id = p.id WHERE (CAST(:p AS uuid) IS NULL OR p.partner_id ="
        " CAST(:p AS uuid)) GROUP BY p.partner_id, p.currency"), {"p": partner_id})
    return {(r.partner_id, r.currency): r.credit for r in rows if r.credit}


# --- bank statements ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BankLine:
    line_no: int
    booked_on: dt.date
    amount: Decimal
    currency: str
    reference: str
    counterparty: str
    key: str


def parse_bank_csv(text: str) -> list[BankLine]:
    """Columns booked_on (YYYY-MM-DD), amount, currency, reference, optionally counterparty; credits only."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in BANK_COLUMNS if c not in header]
    if missing:
        raise BillingError("invalid", f"bank statement line 1: missing column(s) {', '.join(missing)}"
                                      f" (expected {','.join(BANK_COLUMNS)}[,counterparty])", "body")
    reader.fieldnames = header
    lines, seen = [], Counter()
    for number, row in enumerate(reader, start=2):
        def field(name: str, row=row, number=number) -> str:
            value = (row.get(name) or "").strip()
            if not value and name != "reference":
                raise BillingError("invalid", f"bank statement line {number}, column {name}: empty", name)
            return value

        try:
            booked_on = dt.date.fromisoformat(field("booked_on"))
        except ValueError:
            raise BillingError("invalid", f"bank statement line {number}, column booked_on: not a date"
                                          f" (YYYY-MM-DD): {row.get('booked_on')!r}", "booked_on") from None
        currency = field("currency").upper()
        if len(currency) != 3 or not currency.isalpha():
            raise BillingError("invalid", f"bank statement line {number}, column currency: not an ISO code", "currency")
        try:
            amount = _amount(field("amount"), currency)
        except BillingError as error:
            raise BillingError("invalid", f"bank statement line {number}, column {error.message}", "amount") from None
        reference, counterparty = field("reference"), (row.get("counterparty") or "").strip()
        identity = f"{booked_on}|{amount}|{currency}|{reference}|{counterparty}"
        seen[identity] += 1  # two equal lines in one file are two payments; the same file again is not
        key = hashlib.sha256(f"{identity}|{seen[identity]}".encode()).hexdigest()
        lines.append(BankLine(number, booked_on, amount, currency, reference, counterparty, key))
    return lines


def _match(conn: Connection, line: BankLine) -> tuple[object | None, str | None, str | None]:
    """(invoice row, matched by, why unmatched)."""
    for number in DOCUMENT_NUMBER.findall(line.reference.upper()):
        row = conn.execute(sa.text(
            "SELECT b.id::text AS id, b.partner_id::text AS partner_id, b.currency, b.outstanding"
            " FROM billing_invoice_balances b WHERE b.document_number = :n"), {"n": number}).first()
        if row is not None:
            if row.currency != line.currency:
                return None, None, f"invoice {number} is in {row.currency}"
            return row, "reference", None
    rows = conn.execute(sa.text(
        "SELECT id::text AS id, partner_id::text AS partner_id, currency, outstanding FROM billing_invoice_balances"
        " WHERE currency = :c AND outstanding = :a LIMIT 2"), {"c": line.currency, "a": line.amount}).fetchall()
    if len(rows) == 1:
        return rows[0], "amount", None
    if rows:
        return None, None, "several open invoices have this amount"
    return None, None, "no invoice number in the reference and no open invoice of this amount"


def import_bank_statement(engine: Engine, text: str, filename: str | None, who: str | audit.Actor) -> dict:
    """Record the matched lines as payments and keep the others for review, in one transaction."""
    imported_by = audit.name_of(who)
    lines = parse_bank_csv(text)
    summary: dict = {"lines": len(lines), "matched": [], "unmatched": [], "already_imported": 0}
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('billing-bank-import'))"))
        for line in lines:
            if conn.execute(sa.text("SELECT 1 FROM bank_statement_lines WHERE line_key = :k"),
                            {"k": line.key}).first() is not None:
                summary["already_imported"] += 1
                continue
            invoice, how, why = _match(conn, line)
            payment = None
            if invoice is not None:
                payment = _record(conn, invoice.partner_id, line.amount, line.currency, line.booked_on,
                                  line.reference, imported_by, "bank", invoice.id)
            line_id = conn.execute(sa.text(
                "INSERT INTO bank_statement_lines (line_key, filename, line_no, booked_on, amount, currency, reference,"
                " counterparty, status, matched_by, document_id, payment_id, note, imported_by) VALUES (:key, :file,"
                " :no, :on, :amount, :c, :ref, :cp, :status, :how, CAST(:doc AS uuid), :pay, :note, :by) RETURNING id"),
                {"key": line.key, "file": filename, "no": line.line_no, "on": line.booked_on, "amount": line.amount,
                 "c": line.currency, "ref": line.reference, "cp": line.counterparty,
                 "status": "matched" if payment else "unmatched", "how": how,
                 "doc": invoice.id if invoice is not None else None,
                 "pay": payment["payment_id"] if payment else None, "note": why, "by": imported_by}).scalar_one()
            entry = {"bank_line_id": line_id, "line": line.line_no, "amount": str(line.amount),
                     "currency": line.currency, "reference": line.reference}
            if payment:
                summary["matched"].append({**entry, "matched_by": how, "allocations": payment["allocations"],
                                           "credit": payment["credit"]})
            else:
                summary["unmatched"].append({**entry, "reason": why})
        audit.record_by(conn, who, "billing.import_bank_statement", f"bank_statement:{filename or ''}", None,
                        {"lines": summary["lines"], "matched": len(summary["matched"]),
                         "unmatched": len(summary["unmatched"]), "already_imported": summary["already_imported"]})
    return summary


def list_bank_lines(engine: Engine, status: str | None = "unmatched", limit: int = 500) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT l.id, l.filename, l.line_no, l.booked_on, l.amount, l.currency, l.reference, l.counterparty,"
            " l.status, l.matched_by, d.document_number, l.payment_id, l.note, l.reviewed_by"
            " FROM bank_statement_lines l LEFT JOIN billing_documents d ON d.id = l.document_id"
            " WHERE (CAST(:s AS text) IS NULL OR l.status = :s) ORDER BY l.id DESC LIMIT :limit"),
            {"s": status, "limit": limit}).mappings()
        return [{**dict(r), "booked_on": r["booked_on"].isoformat(), "amount": str(r["amount"])} for r in rows]


def review_bank_line(engine: Engine, line_id: int, who: str | audit.Actor, *, invoice: str | None = None,
                     partner_id: str | None = None, ignore_note: str | None = None) -> dict:
    """Finance's decision on an unmatched line: pay `invoice`, credit `partner_id`, or ignore it with a note."""
    reviewed_by = audit.name_of(who)
    if sum(x is not None for x in (invoice, partner_id, ignore_note)) != 1:
        raise BillingError("invalid", "give exactly one of invoice, partner_id or a note to ignore the line", "invoice")
    with engine.begin() as conn:
        line = conn.execute(sa.text("SELECT * FROM bank_statement_lines WHERE id = :id FOR UPDATE"),
                            {"id": line_id}).mappings().first()
        if line is None:
            raise BillingError("not_found", f"no bank line {line_id}", "line_id")
        if line["status"] != "unmatched":
            raise BillingError("conflict", f"bank line {line_id} is already {line['status']}", "line_id")
        if ignore_note is not None:
            if not ignore_note.strip():
                raise BillingError("invalid", "note: say why the line is ignored", "note")
            conn.execute(sa.text("UPDATE bank_statement_lines SET status = 'ignored', note = :n, reviewed_by = :by"
                                 " WHERE id = :id"), {"n": ignore_note.strip(), "by": reviewed_by, "id": line_id})
            audit.record_by(conn, who, "billing.review_bank_line", f"bank_line:{line_id}", {"status": "unmatched"},
                            {"status": "ignored"}, ignore_note.strip())
            return {"bank_line_id": line_id, "status": "ignored"}
        target = None
        if invoice is not None:
            target = conn.execute(sa.text(
                "SELECT id::text AS id, partner_id::text AS partner_id, currency FROM billing_documents"
                " WHERE kind = 'invoice' AND document_number = :n"), {"n": invoice}).first()
            if target is None:
                raise BillingError("not_found", f"no invoice {invoice}", "invoice")
            if target.currency != line["currency"]:
                raise BillingError("invalid", f"invoice {invoice} is in {target.currency}", "invoice")
            partner_id = target.partner_id
        elif conn.execute(sa.text("SELECT 1 FROM partners WHERE id = CAST(:p AS uuid) AND parent_id IS NULL"),
                          {"p": partner_key(partner_id)}).first() is None:
            raise BillingError("not_found", f"no billed partner {partner_id}", "partner_id")
        payment = _record(conn, partner_id, line["amount"], line["currency"], line["booked_on"], line["reference"],
                          reviewed_by, "bank", target.id if target is not None else None)
        conn.execute(sa.text(
            "UPDATE bank_statement_lines SET status = 'assigned', matched_by = 'finance', payment_id = :pay,"
            " document_id = CAST(:doc AS uuid), reviewed_by = :by WHERE id = :id"),
            {"pay": payment["payment_id"], "doc": target.id if target is not None else None, "by": reviewed_by,
             "id": line_id})
        audit.record_by(conn, who, "billing.review_bank_line", f"bank_line:{line_id}", {"status": "unmatched"},
                        {"status": "assigned", "payment_id": payment["payment_id"], "invoice": invoice,
                         "partner_id": partner_id})
    return {"bank_line_id": line_id, "status": "assigned", "payment": payment}
