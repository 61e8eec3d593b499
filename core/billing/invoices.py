"""Invoices and credit notes: one invoice per partner and cycle, from its statement, in the partner's billing
currency (each line converted at the rate in force on the issue date, the rate printed), tax per the partner's
country; a credit note corrects an invoice (never an edit). Both are numbered in the issuing entity's one
gap-free sequence and never change once issued (the database refuses it).

Rounding: each line is converted and rounded half up to the billing currency's minor unit; tax is the rounded
subtotal × rate, rounded once; total = subtotal + tax.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core import audit, csv_export
from core.billing import pdf
from core.billing.payments import apply_credit
from core.billing.store import (
    ZERO,
    BillingError,
    conversion_rate,
    fx_table,
    lock_partner,
    partner_key,
    post,
    profile,
    receivable_account,
    rounded,
    tax_rate,
)
from core.settlement.cycles import cycle_starting

DOCUMENT_COLUMNS = (
    "d.id::text AS id, d.kind, d.entity_code, d.number, d.document_number, d.partner_id::text AS partner_id,"
    " d.statement_id, d.period_start, d.period_end, d.credited_id::text AS credited_id, c.document_number AS"
    " credited_number, d.reason, d.issued_on, d.due_on, d.currency, d.fx_rates, d.subtotal, d.tax_country,"
    " d.tax_label, d.tax_rate, d.tax_amount, d.total, d.issuer, d.bill_to, d.pdf_sha256, d.issued_by, d.created_at,"
    " b.credited, b.paid, b.outstanding"
)
DOCUMENTS_FROM = ("billing_documents d LEFT JOIN billing_documents c ON c.id = d.credited_id"
                  " LEFT JOIN billing_invoice_balances b ON b.id = d.id")


def _take_number(conn: Connection, entity: str) -> tuple[int, dict]:
    """The entity's next number, under its row lock until the transaction ends: a rollback gives it back."""
    row = conn.execute(sa.text(
        "UPDATE billing_entities SET next_number = next_number + 1 WHERE code = :c"
        " RETURNING next_number - 1 AS number, name, address, tax_id"), {"c": entity}).first()
    if row is None:
        raise BillingError("invalid", f"no billing entity {entity!r}", "entity")
    return row.number, {"code": entity, "name": row.name, "address": row.address, "tax_id": row.tax_id}


def _insert(conn: Connection, document: dict, lines: list[dict], who: str | audit.Actor) -> str:
    document["id"] = str(uuid.uuid4())
    issued_by = audit.name_of(who)
    summary = {key: document[key] for key in ("document_number", "partner_id", "period_start", "total", "currency",
                                              "credited_number")}
    audit.record_by(conn, who, f"billing.issue_{document['kind']}", f"billing_document:{document['document_number']}",
                    None, summary, document.get("reason") or "")
    content = pdf.render(document, lines)
    conn.execute(sa.text(
        "INSERT INTO billing_documents (id, kind, entity_code, number, document_number, partner_id, statement_id,"
        " period_start, period_end, credited_id, reason, issued_on, due_on, currency, fx_rates, subtotal, tax_country,"
        " tax_label, tax_rate, tax_amount, total, issuer, bill_to, pdf, pdf_sha256, issued_by)"
        " VALUES (CAST(:id AS uuid), :kind, :entity, :number, :document_number, CAST(:partner_id AS uuid),"
        " :statement_id, :period_start, :period_end, CAST(:credited_id AS uuid), :reason, :issued_on, :due_on,"
        " :currency, CAST(:fx AS jsonb),"
        " :subtotal, :tax_country, :tax_label, :tax_rate, :tax_amount, :total, CAST(:issuer AS jsonb),"
        " CAST(:bill_to AS jsonb), :pdf, :sha, :by)"),
        {**document, "entity": document["issuer"]["code"], "fx": json.dumps(document["fx_rates"]),
         "issuer": json.dumps(document["issuer"]), "bill_to": json.dumps(document["bill_to"]), "pdf": content,
         "sha": hashlib.sha256(content).hexdigest(), "by": issued_by})
    conn.execute(sa.text(
        "INSERT INTO billing_document_lines (document_id, line_no, order_id, agent_id, description, source_amount,"
        " source_currency, fx_rate, amount) VALUES (CAST(:doc AS uuid), :no, CAST(:order_id AS uuid),"
        " CAST(:agent_id AS uuid), :description, :source_amount, :source_currency, :fx_rate, :amount)"),
        [{"doc": document["id"], "no": n, **line} for n, line in enumerate(lines, 1)])
    sign = 1 if document["kind"] == "invoice" else -1
    entries = [(receivable_account(document["partner_id"]), document["total"], ZERO),
               ("revenue:partner_billing", ZERO, document["subtotal"]),
               (f"tax_payable:{document['tax_country']}", ZERO, document["tax_amount"])]
    memo = f"{document['kind'].replace('_', ' ')} {document['document_number']}"
    post(conn, document["issued_on"],
         [(a, d if sign > 0 else c, c if sign > 0 else d, document["currency"], memo) for a, d, c in entries],
         document_id=document["id"])
    return document["id"]


def issue_invoice(engine: Engine, settings, partner_id: str, period_start: dt.date, issued_by: str | audit.Actor,
                  issued_on: dt.date | None = None) -> dict:
    """The partner's invoice for the cycle, from its latest statement; applies the partner's unused credit."""
    try:
        cycle = cycle_starting(period_start, settings.settle_cycle_days)
    except ValueError as error:
        raise BillingError("invalid", str(error), "period_start") from None
    partner_id = partner_key(partner_id)
    issued_on = issued_on or dt.date.today()
    if issued_on < cycle.end:
        raise BillingError("invalid", f"issued_on: the cycle ends on {cycle.end}; its invoice is issued on or after"
                                      " that day", "issued_on")
    with engine.begin() as conn:
        lock_partner(conn, partner_id)
        account = profile(conn, partner_id, settings)
        # FOR SHARE: a rerun of the statements waits until this invoice is issued (and then keeps the statement)
        statement = conn.execute(sa.text(
            "SELECT id, revision FROM partner_statements WHERE partner_id = CAST(:p AS uuid) AND period_start = :s"
            " ORDER BY revision DESC LIMIT 1 FOR SHARE"), {"p": partner_id, "s": cycle.start}).first()
        if statement is None:
            raise BillingError("not_found", f"no statement of this partner for the cycle {cycle.key}: materialise"
                                            " partner_statements for it first", "period_start")
        live = conn.execute(sa.text(
            "SELECT b.document_number FROM billing_invoice_balances b JOIN billing_documents d ON d.id = b.id"
            " WHERE d.partner_id = CAST(:p AS uuid) AND d.period_start = :s AND (b.credited < b.total OR b.paid > 0)"),
            {"p": partner_id, "s": cycle.start}).first()
        if live is not None:
            raise BillingError("conflict", f"invoice {live.document_number} already bills this cycle; correct it"
                                           " with a credit note", "period_start")
        items = conn.execute(sa.text(
            "SELECT l.order_id::text AS order_id, l.agent_id::text AS agent_id, a.name AS agent_name,"
            " l.our_reference, l.hotel_id, l.check_in, l.check_out, l.status, l.charge, l.currency"
            " FROM partner_statement_lines l JOIN partners a ON a.id = l.agent_id WHERE l.statement_id = :id"
            " AND l.charge > 0 ORDER BY (l.agent_id <> CAST(:p AS uuid)), a.name, l.check_out, l.our_reference"),
            {"id": statement.id, "p": partner_id}).mappings().fetchall()
        if not items:
            raise BillingError("conflict", f"the statement for {cycle.key} has nothing to bill", "period_start")
        rate, label = tax_rate(conn, account.country)
        table = fx_table(conn, issued_on, settings.default_currency)
        rates = {c: conversion_rate(table, c, account.currency) for c in sorted({i["currency"] for i in items})}
        lines = [{"order_id": i["order_id"], "agent_id": i["agent_id"],
                  "description": f"{i['our_reference']} {i['hotel_id']} {i['check_in']}-{i['check_out']}"
                                 f" {i['status']}" + (f" (agent {i['agent_name']})" if i["agent_id"] != partner_id
                                                      else ""),
                  "source_amount": i["charge"], "source_currency": i["currency"], "fx_rate": rates[i["currency"]],
                  "amount": rounded(i["charge"] * rates[i["currency"]], account.currency)} for i in items]
        subtotal = sum((line["amount"] for line in lines), ZERO)
        tax = rounded(subtotal * rate, account.currency)
        number, issuer = _take_number(conn, account.entity_code)
        document = {
            "kind": "invoice", "number": number, "document_number": f"{account.entity_code}-{number:06d}",
            "partner_id": partner_id, "statement_id": statement.id, "period_start": cycle.start,
            "period_end": cycle.end, "credited_id": None, "credited_number": None, "reason": None,
            "issued_on": issued_on, "due_on": issued_on + dt.timedelta(days=account.terms_days),
            "currency": account.currency, "fx_rates": {c: str(r) for c, r in rates.items() if c != account.currency},
            "subtotal": subtotal, "tax_country": account.country, "tax_label": label, "tax_rate": rate,
            "tax_amount": tax, "total": subtotal + tax, "issuer": issuer,
            "bill_to": {"name": account.billing_name, "address": account.billing_address, "country": account.country}}
        document_id = _insert(conn, document, lines, issued_by)
        apply_credit(conn, partner_id, account.currency)
    return get_document(engine, document_id)


def issue_credit_note(engine: Engine, settings, invoice: str, reason: str, issued_by: str | audit.Actor,
                      amount: Decimal | None = None, issued_on: dt.date | None = None) -> dict:
    """A credit note against `invoice` (its id or number): `amount` is the net (before tax) to credit, at the
    invoice's tax rate; none credits all that is still open. It can never credit more than is open."""
    if not reason.strip():
        raise BillingError("invalid", "reason: say what the credit note corrects", "reason")
    if amount is not None and (not amount.is_finite() or amount <= 0):
        raise BillingError("invalid", "amount: a positive amount", "amount")
    issued_on = issued_on or dt.date.today()
    with engine.begin() as conn:
        original = _find(conn, invoice)
        if original is None or original["kind"] != "invoice":
            raise BillingError("not_found", f"no invoice {invoice}", "invoice")
        lock_partner(conn, original["partner_id"])
        original = _find(conn, original["id"])  # balances as of now, under the lock
        if issued_on < original["issued_on"]:
            raise BillingError("invalid", f"issued_on: before the invoice's issue date {original['issued_on']}",
                               "issued_on")
        currency = original["currency"]
        credited = conn.execute(sa.text(
            "SELECT COALESCE(sum(subtotal), 0) AS subtotal, COALESCE(sum(tax_amount), 0) AS tax"
            " FROM billing_documents WHERE credited_id = CAST(:id AS uuid)"), {"id": original["id"]}).one()
        if amount is None:
            subtotal = original["subtotal"] - credited.subtotal
            tax = original["tax_amount"] - credited.tax
            lines = _lines(conn, original["id"])
        else:
            subtotal = rounded(amount, currency)
            tax = rounded(subtotal * original["tax_rate"], currency)
            lines = [{"order_id": None, "agent_id": None, "description": f"Correction of {original['document_number']}:"
                      f" {reason.strip()}", "source_amount": subtotal, "source_currency": currency,
                      "fx_rate": Decimal(1), "amount": subtotal}]
        if subtotal + tax <= 0:
            raise BillingError("conflict", f"invoice {original['document_number']} is already fully credited",
                               "invoice")
        if subtotal + tax > original["outstanding"]:
            raise BillingError("conflict", f"a credit note of {subtotal + tax} {currency} exceeds what is open on"
                                           f" {original['document_number']} ({original['outstanding']} {currency})",
                               "amount")
        number, issuer = _take_number(conn, original["entity_code"])
        document = {
            **{k: original[k] for k in ("partner_id", "period_start", "period_end", "currency", "tax_country",
                                        "tax_label", "tax_rate", "bill_to", "fx_rates")},
            "kind": "credit_note", "number": number, "document_number": f"{original['entity_code']}-{number:06d}",
            "statement_id": None, "credited_id": original["id"], "credited_number": original["document_number"],
            "reason": reason.strip(), "issued_on": issued_on, "due_on": issued_on, "subtotal": subtotal,
            "tax_amount": tax, "total": subtotal + tax, "issuer": issuer}
        document_id = _insert(conn, document, lines, issued_by)
    return get_document(engine, document_id)


def _lines(conn: Connection, document_id: str) -> list[dict]:
    rows = conn.execute(sa.text(
        "SELECT order_id::text AS order_id, agent_id::text AS agent_id, description, source_amount, source_currency,"
        " fx_rate, amount FROM billing_document_lines WHERE document_id = CAST(:id AS uuid) ORDER BY line_no"),
        {"id": document_id}).mappings()
    return [dict(r) for r in rows]


def _find(conn: Connection, key: str, partner_id: str | None = None) -> dict | None:
    try:
        uuid.UUID(key)
        where = "d.id = CAST(:key AS uuid)"
    except ValueError:
        where = "d.document_number = :key"
    row = conn.execute(sa.text(
        f"SELECT {DOCUMENT_COLUMNS} FROM {DOCUMENTS_FROM} WHERE {where}"
        " AND (CAST(:p AS uuid) IS NULL OR d.partner_id = CAST(:p AS uuid))"), {"key": key, "p": partner_id}
    ).mappings().first()
    return dict(row) if row is not None else None


def _json(document: dict) -> dict:
    body = {k: document[k] for k in ("id", "kind", "document_number", "partner_id", "statement_id", "credited_id",
                                     "credited_number", "reason", "currency", "fx_rates", "tax_country", "tax_label",
                                     "issuer", "bill_to", "pdf_sha256", "issued_by")}
    for key in ("period_start", "period_end", "issued_on", "due_on"):
        body[key] = document[key].isoformat()
    for key in ("subtotal", "tax_amount", "total"):
        body[key] = str(document[key])
    body["tax_rate"] = str(document["tax_rate"])
    if document["kind"] == "invoice":
        body["balance"] = {"credited": str(document["credited"]), "paid": str(document["paid"]),
                           "outstanding": str(document["outstanding"])}
        body["status"] = _status(document)
    return body


def _status(document: dict) -> str:
    if document["outstanding"] > 0:
        return "partially_paid" if document["paid"] > 0 or document["credited"] > 0 else "open"
    return "paid" if document["paid"] > 0 else "credited"


def get_document(engine: Engine, key: str, partner_id: str | None = None) -> dict | None:
    """One invoice or credit note with its lines, by id or number; None when missing or another partner's."""
    with engine.connect() as conn:
        document = _find(conn, key, partner_id)
        if document is None:
            return None
        body = _json(document)
        body["lines"] = [{**line, "source_amount": str(line["source_amount"]), "fx_rate": str(line["fx_rate"]),
                          "amount": str(line["amount"])} for line in _lines(conn, document["id"])]
        body["credit_notes"] = [r[0] for r in conn.execute(sa.text(
            "SELECT document_number FROM billing_documents WHERE credited_id = CAST(:id AS uuid) ORDER BY number"),
            {"id": document["id"]})]
    return body


def list_documents(engine: Engine, partner_id: str | None = None, kind: str | None = None,
                   period_start: dt.date | None = None, limit: int = 500) -> list[dict]:
    where, params = ["true"], {"limit": limit}
    partner_id = partner_key(partner_id) if partner_id else None
    for value, clause, name in ((partner_id, "d.partner_id = CAST(:p AS uuid)", "p"), (kind, "d.kind = :kind", "kind"),
                                (period_start, "d.period_start = :start", "start")):
        if value:
            where.append(clause)
            params[name] = value
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT {DOCUMENT_COLUMNS}, p.name AS partner_name FROM {DOCUMENTS_FROM}"
            f" JOIN partners p ON p.id = d.partner_id WHERE {' AND '.join(where)}"
            " ORDER BY d.entity_code, d.number DESC LIMIT :limit"), params).mappings()
        return [{**_json(dict(r)), "partner_name": r["partner_name"]} for r in rows]


def document_pdf(engine: Engine, key: str, partner_id: str | None = None) -> tuple[str, bytes] | None:
    with engine.connect() as conn:
        document = _find(conn, key, partner_id)
        if document is None:
            return None
        content = conn.execute(sa.text("SELECT pdf FROM billing_documents WHERE id = CAST(:id AS uuid)"),
                               {"id": document["id"]}).scalar_one()
    return f"{document['document_number']}.pdf", bytes(content)


CSV_COLUMNS = ("document_number", "kind", "credits", "partner_id", "bill_to", "issued_on", "due_on", "period_start",
               "line_no", "description", "source_amount", "source_currency", "fx_rate", "amount", "currency",
               "subtotal", "tax_rate", "tax_amount", "total")


def documents_csv(engine: Engine, documents: list[dict]) -> str:
    """One row per document line, with the document's totals repeated (for an accountant's spreadsheet)."""
    out = io.StringIO()
    writer = csv_export.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for summary in documents:
        document = get_document(engine, summary["id"])
        for number, line in enumerate(document["lines"], 1):
            writer.writerow([document["document_number"], document["kind"], document["credited_number"] or "",
                             document["partner_id"], document["bill_to"]["name"], document["issued_on"],
                             document["due_on"], document["period_start"], number, line["description"],
                             line["source_amount"], line["source_currency"], line["fx_rate"], line["amount"],
                             document["currency"], document["subtotal"], document["tax_rate"],
                             document["tax_amount"], document["total"]])
    return out.getvalue()
