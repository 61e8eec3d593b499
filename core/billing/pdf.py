"""An invoice or credit note as PDF (fpdf2), rendered once when the document is issued and stored with it.

The PDF's creation date is the issue date, so the same document always renders to the same bytes. The
built-in Helvetica covers Latin-1; other scripts (a partner's Chinese name) are transliterated (anyascii),
so the PDF needs no font file on the machine.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from anyascii import anyascii
from fpdf import FPDF
from fpdf.enums import XPos, YPos


def _text(value: object) -> str:
    text = str(value)
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        return "".join(c if ord(c) < 256 else anyascii(c) for c in text)


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,} {currency}"


def render(document: dict, lines: list[dict]) -> bytes:
    """`document`: the billing_documents row's fields (kind, document_number, issuer, bill_to, dates, amounts);
    `lines`: description, source_amount, source_currency, fx_rate, amount."""
    credit = document["kind"] == "credit_note"
    currency = document["currency"]
    pdf = FPDF(format="A4")
    issued = document["issued_on"]
    pdf.set_creation_date(dt.datetime(issued.year, issued.month, issued.day, tzinfo=dt.UTC))
    pdf.set_title(_text(f"{'Credit note' if credit else 'Invoice'} {document['document_number']}"))
    pdf.set_author(_text(document["issuer"]["name"]))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _text(f"{'CREDIT NOTE' if credit else 'INVOICE'} {document['document_number']}"),
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    issuer, bill_to = document["issuer"], document["bill_to"]
    for text in (f"Issued by: {issuer['name']}, {issuer['address']} (tax id {issuer['tax_id']})",
                 f"Bill to: {bill_to['name']}, {bill_to['address'] or '-'} ({bill_to['country']})",
                 f"Partner id: {document['partner_id']}",
                 f"Period: {document['period_start']} to {document['period_end']} (exclusive)",
                 f"Issue date: {issued}    Due date: {document['due_on']}"):
        pdf.multi_cell(0, 5, _text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if credit:
        pdf.multi_cell(0, 5, _text(f"Credits invoice {document['credited_number']}. Reason: {document['reason']}"),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document["fx_rates"]:
        rates = ", ".join(f"1 {src} = {rate} {currency}" for src, rate in sorted(document["fx_rates"].items()))
        pdf.multi_cell(0, 5, _text(f"Exchange rates used: {rates}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("Helvetica", size=8)
    with pdf.table(col_widths=(8, 92, 30, 24, 30), text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row(["#", "Description", "Amount", "Rate", f"Amount {currency}"])
        for number, line in enumerate(lines, 1):
            table.row([str(number), _text(line["description"]),
                       _money(line["source_amount"], line["source_currency"]), str(line["fx_rate"]),
                       f"{line['amount']:,}"])
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    tax = f"{document['tax_label']} {document['tax_rate'] * 100:.2f}% ({document['tax_country']})"
    for label, amount in (("Subtotal", document["subtotal"]), (tax, document["tax_amount"]),
                          ("Total credited" if credit else "Total due", document["total"])):
        pdf.cell(0, 6, _text(f"{label}: {_money(amount, currency)}"), align="R", new_x=XPos.LMARGIN,
                 new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=8)
    pdf.ln(2)
    pdf.multi_cell(0, 4, _text(f"Please quote {document['document_number']} as the payment reference."),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
