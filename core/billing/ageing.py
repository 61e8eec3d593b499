"""Ageing: what each partner still owes on a day, by days past due (current, 1–30, 31–60, 61–90, over 90),
with its unused credit and days sales outstanding (open amount ÷ invoiced in the 90 days before, × 90).

As of a day means: invoices issued by then, less credit notes issued and payments received by then.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core import csv_export
from core.billing.store import ZERO

BUCKETS = ("current", "1-30", "31-60", "61-90", "over_90")
DSO_WINDOW_DAYS = 90

AGEING_SQL = """
WITH open AS (
    SELECT d.partner_id, d.currency, d.due_on,
           d.total - (SELECT COALESCE(sum(n.total), 0) FROM billing_documents n
                      WHERE n.credited_id = d.id AND n.issued_on <= :as_of)
                   - (SELECT COALESCE(sum(a.amount), 0) FROM payment_allocations a
                      JOIN billing_payments p ON p.id = a.payment_id
                      WHERE a.document_id = d.id AND p.received_on <= :as_of) AS amount
    FROM billing_documents d WHERE d.kind = 'invoice' AND d.issued_on <= :as_of
), unused AS (
    SELECT p.partner_id, p.currency, sum(p.amount - COALESCE(
               (SELECT sum(a.amount) FROM payment_allocations a WHERE a.payment_id = p.id), 0)) AS credit
    FROM billing_payments p WHERE p.received_on <= :as_of GROUP BY p.partner_id, p.currency
), invoiced AS (
    SELECT partner_id, currency, sum(CASE kind WHEN 'invoice' THEN total ELSE -total END) AS amount
    FROM billing_documents WHERE issued_on <= :as_of AND issued_on > :as_of - :window
    GROUP BY partner_id, currency
), keys AS (
    SELECT partner_id, currency FROM open WHERE amount > 0
    UNION SELECT partner_id, currency FROM unused WHERE credit > 0
)
SELECT k.partner_id::text AS partner_id, pa.name AS partner_name, k.currency,
       COALESCE(sum(o.amount) FILTER (WHERE :as_of <= o.due_on), 0) AS "current",
       COALESCE(sum(o.amount) FILTER (WHERE :as_of - o.due_on BETWEEN 1 AND 30), 0) AS "1-30",
       COALESCE(sum(o.amount) FILTER (WHERE :as_of - o.due_on BETWEEN 31 AND 60), 0) AS "31-60",
       COALESCE(sum(o.amount) FILTER (WHERE :as_of - o.due_on BETWEEN 61 AND 90), 0) AS "61-90",
       COALESCE(sum(o.amount) FILTER (WHERE :as_of - o.due_on > 90), 0) AS "over_90",
       COALESCE(max(u.credit), 0) AS credit, COALESCE(max(i.amount), 0) AS invoiced_window
FROM keys k JOIN partners pa ON pa.id = k.partner_id
LEFT JOIN open o ON o.partner_id = k.partner_id AND o.currency = k.currency AND o.amount > 0
LEFT JOIN unused u ON u.partner_id = k.partner_id AND u.currency = k.currency
LEFT JOIN invoiced i ON i.partner_id = k.partner_id AND i.currency = k.currency
WHERE (CAST(:p AS uuid) IS NULL OR k.partner_id = CAST(:p AS uuid))
GROUP BY k.partner_id, pa.name, k.currency ORDER BY pa.name, k.currency
"""


def ageing(engine: Engine, as_of: dt.date | None = None, partner_id: str | None = None) -> dict:
    as_of = as_of or dt.date.today()
    with engine.connect() as conn:
        rows = conn.execute(sa.text(AGEING_SQL), {"as_of": as_of, "window": DSO_WINDOW_DAYS, "p": partner_id}
                            ).mappings().fetchall()
    partners, totals = [], {}
    for r in rows:
        open_total = sum((r[b] for b in BUCKETS), ZERO)
        dso = None
        if r["invoiced_window"] > 0:
            dso = (open_total / r["invoiced_window"] * DSO_WINDOW_DAYS).quantize(Decimal("0.1"), ROUND_HALF_UP)
        partners.append({"partner_id": r["partner_id"], "partner_name": r["partner_name"], "currency": r["currency"],
                         **{b: str(r[b]) for b in BUCKETS}, "open": str(open_total), "credit": str(r["credit"]),
                         "dso_days": None if dso is None else str(dso)})
        entry = totals.setdefault(r["currency"], {b: ZERO for b in (*BUCKETS, "open", "credit")})
        for bucket in BUCKETS:
            entry[bucket] += r[bucket]
        entry["open"] += open_total
        entry["credit"] += r["credit"]
    return {"as_of": as_of.isoformat(), "buckets": list(BUCKETS), "partners": partners,
            "totals": {c: {k: str(v) for k, v in t.items()} for c, t in sorted(totals.items())}}


def ageing_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv_export.writer(out, lineterminator="\n")
    columns = ("partner_id", "partner_name", "currency", *BUCKETS, "open", "credit", "dso_days")
    writer.writerow(("as_of", *columns))
    for row in report["partners"]:
        writer.writerow((report["as_of"], *(row[c] if row[c] is not None else "" for c in columns)))
    return out.getvalue()
