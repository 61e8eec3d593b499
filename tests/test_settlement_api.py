"""Finance's settlement API: finance-only access, upload, listings, filters, resolve, approve, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from tests.api_fixtures import auth, new_partner, new_staff
from tests.settlement_fixtures import STANDARD_ORDERS, STANDARD_PARTNERS, past_cycle, seed_cycle, standard_statement


@pytest.fixture
def finance(api_client, engine):
    return auth(api_client, new_staff(engine, "finance"))


@pytest.fixture
def uploaded(api_client, engine, finance):
    seeded = seed_cycle(engine, past_cycle(4), STANDARD_ORDERS, STANDARD_PARTNERS)
    response = api_client.post(
        f"/v1/settlements/statements?supplier={seeded.supplier}&period_start={seeded.cycle.key}&filename=week.csv",
        content=standard_statement(seeded).encode(), headers={**finance, "Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    return seeded, response.json()


def test_only_finance_may_use_settlements(api_client, engine, uploaded):
    seeded, body = uploaded
    cycle_id = body["cycle"]["id"]
    partner = auth(api_client, new_partner(engine))
    operator = auth(api_client, new_staff(engine, "operator"))
    paths = [("get", "/v1/settlements/cycles"), ("get", f"/v1/settlements/cycles/{cycle_id}"),
             ("get", f"/v1/settlements/cycles/{cycle_id}/discrepancies"),
             ("post", f"/v1/settlements/cycles/{cycle_id}/approve"),
             ("get", f"/v1/settlements/cycles/{cycle_id}/export.csv"),
             ("get", f"/v1/settlements/cycles/{cycle_id}/report"),
             ("post", f"/v1/settlements/statements?supplier={seeded.supplier}&period_start={seeded.cycle.key}")]
    for method, path in paths:
        assert getattr(api_client, method)(path).status_code == 401, path
        for headers in (partner, operator):
            response = getattr(api_client, method)(path, headers=headers)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    assert api_client.get(f"/v1/settlements/cycles/{cycle_id}").json()["error"]["code"] == "unauthorized"


def test_upload_reconciles_and_bad_statements_name_line_and_column(api_client, finance, uploaded):
    seeded, body = uploaded
    assert body["lines"] == 7 and body["uploaded_by"]
    assert body["cycle"]["action"] == "created" and body["cycle"]["counts"]["discrepancies"] == 4
    bad = "supplier_ref,check_in,check_out,status,amount,currency\nR1,2026-01-01,2026-01-03,charged,12.5,USD\n" \
          "R2,2026-01-01,2026-01-03,refunded,1,USD\n"
    response = api_client.post(f"/v1/settlements/statements?supplier={seeded.supplier}&period_start={seeded.cycle.key}",
                               content=bad.encode(), headers={**finance, "Content-Type": "text/csv"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["line"] == 3 and error["column"] == "status" and "unknown status" in error["message"]
    not_monday = seeded.cycle.start + dt.timedelta(days=1)
    response = api_client.post(f"/v1/settlements/statements?supplier={seeded.supplier}&period_start={not_monday}",
                               content=b"x", headers=finance)
    assert response.status_code == 422 and response.json()["error"]["field"] == "period_start"
    response = api_client.post(f"/v1/settlements/statements?supplier=NOPE&period_start={seeded.cycle.key}",
                               content=standard_statement(seeded).encode(), headers=finance)
    assert response.status_code == 404


def test_review_flow_list_filter_resolve_approve_export(api_client, engine, finance, uploaded):
    seeded, body = uploaded
    cycle_id = body["cycle"]["id"]
    cycles = api_client.get(f"/v1/settlements/cycles?supplier={seeded.supplier}", headers=finance).json()["cycles"]
    assert [(c["id"], c["status"], c["revision"]) for c in cycles] == [(cycle_id, "reconciled", 1)]
    assert cycles[0]["totals"]["payable"] == {"EUR": "40.00", "USD": "445.00"}

    summary = api_client.get(f"/v1/settlements/cycles/{cycle_id}", headers=finance).json()
    assert summary["open_discrepancies"] == 4 and summary["counts"]["matched"] == 4
    assert all(entry["balanced"] for entry in summary["journal"].values())
    assert summary["journal"]["USD"] == {"debit": "527.24", "credit": "527.24", "balanced": True}

    url = f"/v1/settlements/cycles/{cycle_id}/discrepancies"
    everything = api_client.get(url, headers=finance).json()["discrepancies"]
    assert sorted(d["class"] for d in everything) == ["amount_mismatch", "duplicate_in_statement",
                                                      "missing_in_platform", "missing_in_statement"]
    only_missing = api_client.get(url, params={"class": "missing_in_platform"}, headers=finance).json()
    assert [d["supplier_ref"] for d in only_missing["discrepancies"]] == ["STRAY-1"]
    large = api_client.get(url, params={"min_amount": "50"}, headers=finance).json()["discrepancies"]
    assert sorted(d["class"] for d in large) == ["duplicate_in_statement", "missing_in_statement"]
    assert api_client.get(url, params={"supplier": "OTHER"}, headers=finance).json()["discrepancies"] == []
    assert api_client.get(url, params={"class": "weird"}, headers=finance).status_code == 422
    assert api_client.get(url, params={"min_amount": "lots"}, headers=finance).status_code == 422
    assert api_client.get("/v1/settlements/cycles/999999999", headers=finance).status_code == 404

    target = only_missing["discrepancies"][0]["id"]
    empty = api_client.post(f"/v1/settlements/discrepancies/{target}/resolve", json={"note": "  "}, headers=finance)
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "note"
    resolved = api_client.post(f"/v1/settlements/discrepancies/{target}/resolve",
                               json={"note": "booked by phone, order added"}, headers=finance)
    assert resolved.status_code == 200
    note = resolved.json()
    assert note["status"] == "resolved" and note["resolution_note"] == "booked by phone, order added"
    assert note["resolved_by"] and note["resolved_at"]
    open_now = api_client.get(url, params={"status": "open"}, headers=finance).json()["discrepancies"]
    assert target not in [d["id"] for d in open_now] and len(open_now) == 3

    approved = api_client.post(f"/v1/settlements/cycles/{cycle_id}/approve", headers=finance)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    with engine.connect() as conn:  # the audit says what the approval accepted as it stood
        approval = conn.execute(sa.text("SELECT after FROM audit_log WHERE action = 'settlement.approve'"
                                        " AND target = :target"), {"target": f"settlement_cycle:{cycle_id}"}).one()
    assert approval.after == {"status": "approved", "open_discrepancies": 3}
    assert api_client.post(f"/v1/settlements/cycles/{cycle_id}/approve", headers=finance).status_code == 409
    late = api_client.post(f"/v1/settlements/discrepancies/{open_now[0]['id']}/resolve", json={"note": "x"},
                           headers=finance)
    assert late.status_code == 409

    export = api_client.get(f"/v1/settlements/cycles/{cycle_id}/export.csv", headers=finance)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 4 and {r["class"] for r in rows} >= {"amount_mismatch", "missing_in_platform"}
    assert next(r for r in rows if r["supplier_ref"] == "STRAY-1")["resolution_note"] == "booked by phone, order added"
    report = api_client.get(f"/v1/settlements/cycles/{cycle_id}/report", headers=finance)
    assert report.status_code == 200 and "text/html" in report.headers["content-type"]
    assert "445.00" in report.text and "STRAY-1" in report.text and "approved" in report.text
