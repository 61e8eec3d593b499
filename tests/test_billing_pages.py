"""Finance's billing pages over the real app: sign in, see statements, issue an invoice, correct it, record a
payment, import a bank file, review a line, read ageing; refusals come back as the page's message."""

from __future__ import annotations

import re

from core.billing import statements, store
from tests.api_fixtures import new_staff
from tests.billing_fixtures import far_cycle, new_entity, pdf_text, seed_billing_cycle, set_rate


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def test_finance_issues_corrects_and_collects_from_the_pages(api_client, engine, settings):
    cycle = far_cycle(11)
    seeded = seed_billing_cycle(engine, cycle)
    parent = seeded.partners["Parent"]
    set_rate(engine, "USD", "CNY", "7", cycle.start)
    store.set_profile(engine, parent, settings, entity=new_entity(engine))
    statements.write_statements(engine, cycle, settings)
    partner_login = api_client.post("/billing/login", data={"username": "nobody", "password": "x"})
    assert partner_login.status_code == 401 and "do not match" in partner_login.text
    finance = new_staff(engine, "finance")
    signed_in = api_client.post("/billing/login", data={"username": finance.username,
                                                         "password": finance.password})
    assert signed_in.status_code == 200 and "Partner statements" in signed_in.text  # redirected to /billing

    forged = api_client.get("/billing", params={"message": "Pay overdue invoices to account 6222 0000 1111"})
    # only the server's own messages show
    assert 'id="message"' not in forged.text and "Pay overdue invoices" not in forged.text
    page = api_client.get(f"/billing?cycle={cycle.key}")
    assert seeded.partners["Parent"] in page.text and "Issue invoice" in page.text
    csrf = _csrf(page.text)
    stale = api_client.post("/billing/invoices", data={"csrf": "0" * 32, "partner_id": parent,
                                                       "period_start": cycle.key})
    assert stale.status_code == 403
    early = api_client.post("/billing/invoices", data={"csrf": csrf, "partner_id": parent, "period_start": cycle.key,
                                                       "issued_on": cycle.start.isoformat()})
    assert "Not done: issued_on: the cycle ends on" in early.text
    issued = api_client.post("/billing/invoices", data={"csrf": csrf, "partner_id": parent,
                                                        "period_start": cycle.key, "issued_on": cycle.end.isoformat()})
    number = re.search(r"Invoice (T[0-9A-F]+-\d{6}) issued: 2263\.10 CNY", issued.text).group(1)  # 2135.00 + 6 %

    document = api_client.get(f"/billing/invoices/{number}")
    assert "1 USD = 7.00000000 CNY" in document.text and "outstanding\n  <strong>2263.10</strong>" in document.text
    credited = api_client.post(f"/billing/invoices/{number}/credit-notes",
                               data={"csrf": csrf, "reason": "rate agreed lower", "amount": "35",
                                     "issued_on": cycle.end.isoformat()})
    assert "Credit note" in credited.text and "37.10 CNY" in credited.text
    paid = api_client.post("/billing/payments", data={"csrf": csrf, "invoice": number, "amount": "2000",
                                                      "currency": "CNY", "received_on": cycle.end.isoformat(),
                                                      "back": f"/billing/invoices/{number}"})
    assert "credit left 0.00 CNY" in paid.text and "outstanding\n  <strong>226.00</strong>" in paid.text

    bank = ("booked_on,amount,currency,reference\n"
            f"{cycle.end},226.00,CNY,{number}\n{cycle.end},5.00,CNY,mystery\n")
    imported = api_client.post("/billing/bank-statements", data={"csrf": csrf, "content": bank})
    assert "2 lines: 1 matched, 1 for review" in imported.text and "mystery" in imported.text
    line_id = re.search(r'data-line-id="(\d+)"', imported.text).group(1)
    ignored = api_client.post(f"/billing/bank-lines/{line_id}", data={"csrf": csrf, "ignore_note": "not ours"})
    assert f"Bank line {line_id}: ignored." in ignored.text
    assert "(paid)" in api_client.get(f"/billing/invoices/{number}").text

    report = api_client.get(f"/billing/ageing?as_of={cycle.end}")
    assert report.status_code == 200 and "Receivables ageing" in report.text
    pdf = api_client.get(f"/billing/invoices/{number}/pdf")
    assert f"INVOICE {number}" in pdf_text(pdf.content)
    assert api_client.get("/billing/invoices.csv").text.startswith("document_number,kind")
    # Each action is in the audit log under the finance member's name, from the console.
    from core import audit

    done = [(e["action"], e["source"]) for e in audit.search(engine, actor=finance.username, action="billing.")]
    assert done == [("billing.review_bank_line", "console"), ("billing.import_bank_statement", "console"),
                    ("billing.record_payment", "console"), ("billing.issue_credit_note", "console"),
                    ("billing.issue_invoice", "console")]
    api_client.post("/billing/logout")
    assert "sign in" in api_client.get("/billing").text
