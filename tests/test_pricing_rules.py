"""Pricing rules as managed data: the operator API validates and versions every change, a change prices
the very next quote (not an earlier one), the preview shows the chain, and `hotelctl pricing` does the same."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth import Principal, issue_token
from core import audit
from core.pricing_rules import DEFAULT_RULES, RuleError, create_rule, seed_default_rules
from tests.api_fixtures import auth, new_partner, new_staff, seed_city


def _operator(settings, client_id: str = "ops-pricing") -> dict:
    token, _ = issue_token(settings, Principal(client_id, "operator", None))
    return {"Authorization": f"Bearer {token}"}


def _stay(nights: int = 2) -> dict:
    start = dt.date.today() + dt.timedelta(days=20)  # seed_city's window
    return {"check_in": start.isoformat(), "check_out": (start + dt.timedelta(days=nights)).isoformat()}


def test_rules_api_validates_versions_and_retires(api_client, settings, engine):
    ops = _operator(settings)
    partner = new_partner(engine, tier=f"t-{secrets.token_hex(3)}")
    rule = {"level": "partner", "partner_id": str(partner.partner_id), "markup_pct": "7.5", "priority": 10}
    assert api_client.post("/v1/admin/pricing-rules", json=rule).status_code == 401
    as_partner = auth(api_client, partner)
    assert api_client.post("/v1/admin/pricing-rules", headers=as_partner, json=rule).status_code == 403

    created = api_client.post("/v1/admin/pricing-rules", headers=ops, json=rule)
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    assert created.json()["markup_pct"] == "7.5000"

    def rejected(body: dict, status: int, field: str, path: str = "/v1/admin/pricing-rules", method: str = "post"):
        response = getattr(api_client, method)(path, headers=ops, json=body)
        assert response.status_code == status, response.text
        assert field in [f["field"] for f in response.json()["error"]["fields"]], response.text

    rejected({**rule, "markup_pct": "120"}, 422, "markup_pct")
    rejected({**rule, "markup_pct": "-1"}, 422, "markup_pct")
    rejected({**rule, "priority": 11, "markup_fixed": "20"}, 422, "fixed_currency")
    rejected({**rule, "priority": 11, "markup_fixed": "20", "fixed_currency": "XQZ"}, 422, "fixed_currency")
    rejected({**rule, "priority": 11, "star_min": "4", "star_max": "3"}, 422, "star_max")
    rejected({**rule, "priority": 11, "partner_id": "not-a-uuid"}, 422, "partner_id")
    rejected({"markup_pct": "5"}, 422, "level")
    rejected({**rule, "markup_pct": "9"}, 409, "priority")  # same partner, same priority: overlaps rule_id
    # Disjoint criteria at the same priority do not overlap.
    other = {**rule, "date_from": "2030-01-01", "date_to": "2030-12-31"}
    narrow = api_client.post("/v1/admin/pricing-rules", headers=ops, json={**rule, "date_to": "2029-12-31"})
    assert narrow.status_code == 409  # an open start overlaps the first rule
    assert api_client.post("/v1/admin/pricing-rules", headers=ops, json=other).status_code == 409
    rejected({"markup_pct": "150"}, 422, "markup_pct", f"/v1/admin/pricing-rules/{rule_id}", "patch")

    changed = api_client.patch(f"/v1/admin/pricing-rules/{rule_id}", headers=ops, json={"markup_pct": "9"})
    assert changed.status_code == 200 and changed.json()["markup_pct"] == "9.0000"
    retired = api_client.delete(f"/v1/admin/pricing-rules/{rule_id}", headers=ops)
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert api_client.delete(f"/v1/admin/pricing-rules/{rule_id}", headers=ops).status_code == 409
    assert api_client.patch(f"/v1/admin/pricing-rules/{rule_id}", headers=ops,
                            json={"markup_pct": "1"}).status_code == 409
    listed = api_client.get("/v1/admin/pricing-rules", headers=ops).json()["items"]
    assert rule_id not in [r["id"] for r in listed]
    everything = api_client.get("/v1/admin/pricing-rules?include_retired=true", headers=ops).json()["items"]
    assert rule_id in [r["id"] for r in everything]

    versions = api_client.get(f"/v1/admin/pricing-rules/{rule_id}/history", headers=ops).json()["versions"]
    assert [v["action"] for v in versions] == ["create", "update", "retire"]
    assert {v["changed_by"] for v in versions} == {"ops-pricing"}
    assert versions[0]["before"] is None and versions[0]["after"]["markup_pct"] == "7.5000"
    assert versions[1]["before"]["markup_pct"] == "7.5000" and versions[1]["after"]["markup_pct"] == "9.0000"
    assert versions[2]["before"]["active"] is True and versions[2]["after"]["active"] is False
    assert api_client.get("/v1/admin/pricing-rules/999999999/history", headers=ops).status_code == 404


def _total(client, headers, search) -> Decimal:
    body = client.post("/v1/quotes", headers=headers, json=search).json()
    [offer] = body["offers"]
    return Decimal(offer["total_price"]["amount"]), body["quote_id"]


def test_a_rule_change_prices_the_next_quote_within_a_second_and_no_earlier_one(settings, migrated, engine,
                                                                                 redis_url):
    """With the quote memo on (60 s), the API's cached rules are dropped by the change's NOTIFY."""
    seed_city(engine, redis_url, city="Rulechangeville", hotels=1, suppliers=("A",), rooms_per_hotel=1)
    tier = f"t-{secrets.token_hex(3)}"
    marked, plain = new_partner(engine, tier=tier), new_partner(engine, tier=tier)
    search = {"city": "Rulechangeville", **_stay(), "rooms": 1, "adults": 2}
    ops = _operator(settings)
    app_settings = settings.model_copy(update={"quote_cache_ms": 60_000})
    with TestClient(create_app(app_settings, migrated), raise_server_exceptions=False) as client:
        rule = client.post("/v1/admin/pricing-rules", headers=ops, json={
            "level": "partner", "partner_id": str(marked.partner_id), "markup_pct": "10", "priority": 100}).json()
        marked_headers, plain_headers = auth(client, marked), auth(client, plain)
        base, _ = _total(client, plain_headers, search)
        deadline = time.monotonic() + 1.0
        while True:  # the create's notification, too, reaches the process
            before, first_quote = _total(client, marked_headers, search)
            if abs(before - base * Decimal("1.1")) <= Decimal("0.01") or time.monotonic() > deadline:
                break
        assert abs(before - base * Decimal("1.1")) <= Decimal("0.01")

        assert client.patch(f"/v1/admin/pricing-rules/{rule['id']}", headers=ops,
                            json={"markup_pct": "30"}).status_code == 200
        changed_at = time.monotonic()
        while True:
            after, _ = _total(client, marked_headers, search)
            if after != before or time.monotonic() - changed_at > 1.0:
                break
            time.sleep(0.02)
        assert abs(after - base * Decimal("1.3")) <= Decimal("0.01"), (base, before, after)
        # The quote made before the change keeps its price.
        stored = client.get(f"/v1/quotes/{first_quote}", headers=marked_headers).json()
        assert Decimal(stored["offers"][0]["total_price"]["amount"]) == before
        # The other partner's price never moved.
        assert _total(client, plain_headers, search)[0] == base


def test_preview_shows_the_chain_as_a_quote_prices_it(api_client, settings, engine, redis_url):
    [room] = seed_city(engine, redis_url, city="Previewville", hotels=1, suppliers=("A",), rooms_per_hotel=1,
                       base_net=Decimal("200.00"))
    tier = f"t-{secrets.token_hex(3)}"
    partner = new_partner(engine, tier=tier)
    ops = _operator(settings)
    assert api_client.post("/v1/admin/pricing-rules", headers=ops, json={
        "level": "partner", "partner_tier": tier, "markup_pct": "12", "markup_fixed": "5",
        "fixed_currency": "CNY"}).status_code == 201
    search = {"hotel_ids": [room.hotel_id], **_stay(), "rooms": 2, "adults": 2}
    quoted = api_client.post("/v1/quotes", headers=auth(api_client, partner), json=search).json()["offers"][0]
    body = api_client.post("/v1/admin/pricing-rules/preview", headers=ops, json={
        "partner_id": str(partner.partner_id), "hotel_id": room.hotel_id, **_stay(), "rooms": 2})
    assert body.status_code == 200, body.text
    [offer] = body.json()["offers"]
    chain = offer["breakdown"]
    assert Decimal(chain["net"]["amount"]) == 800 and chain["net"]["currency"] == "CNY"  # 200 × 2 nights × 2 rooms
    assert Decimal(chain["partner_markup"]["amount"]) == (Decimal(800) + Decimal(chain["platform_markup"]["amount"])) \
        * Decimal("0.12") + 5 * 4
    assert chain["sell"] == quoted["total_price"]
    missing = api_client.post("/v1/admin/pricing-rules/preview", headers=ops, json={
        "partner_id": str(partner.partner_id), "hotel_id": "no-such-hotel", **_stay()})
    assert missing.status_code == 404 and missing.json()["error"]["fields"][0]["field"] == "hotel_id"


def test_the_default_rule_set_gives_a_fresh_platform_margin_once(new_database, redis_url):
    from core.db import engine_for
    from core.migrate import upgrade
    from core.pricing_preview import PreviewRequest, preview

    url = new_database("pricing_seed")
    upgrade(url)
    fresh = engine_for(url)
    try:
        lead = audit.Actor("ops-lead", "operator", "cli")  # `hotelctl pricing seed-defaults --by ops-lead`
        assert seed_default_rules(fresh, lead) == len(DEFAULT_RULES)
        assert seed_default_rules(fresh) == 0  # never again, even after every rule is retired
        entries = audit.search(fresh, actor="ops-lead", action="pricing_rule.")
        assert [(e["action"], e["source"]) for e in entries] == [("pricing_rule.create", "cli")] * len(DEFAULT_RULES)
        [room] = seed_city(fresh, redis_url, city="Seedville", hotels=1, rooms_per_hotel=1,
                           base_net=Decimal("100.00"))
        partner = new_partner(fresh)  # tier standard, as the demo partners
        [offer] = preview(fresh, PreviewRequest(str(partner.partner_id), room.hotel_id,
                                                dt.date.fromisoformat(_stay()["check_in"]),
                                                dt.date.fromisoformat(_stay()["check_out"])), "CNY")["offers"]
        # 200 net; platform 8 % = 16; standard tier 5 % of 216 = 10.80 → 226.80
        chain = offer["breakdown"]
        assert (Decimal(chain["platform_markup"]["amount"]), Decimal(chain["partner_markup"]["amount"])) == \
            (Decimal(16), Decimal("10.80"))
        assert chain["sell"] == {"amount": "226.80", "currency": "CNY"}
    finally:
        fresh.dispose()
        engine_for.cache_clear()


def test_cli_manages_rules(engine, settings, monkeypatch):
    from cli.main import app

    with pytest.raises(RuleError) as bad:
        create_rule(engine, {"level": "partner", "markup_pct": "5", "partner_tier": "x", "city": "A",
                             "star_min": "6"}, "test")
    assert bad.value.field == "star_min"

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HOTEL_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    tier = f"t-{secrets.token_hex(3)}"
    added = runner.invoke(app, ["pricing", "add", "partner", "--partner-tier", tier, "--markup-pct", "4",
                                "--by", "alice"])
    assert added.exit_code == 0, added.output
    rule_id = json.loads(added.stdout)["id"]
    bad_add = runner.invoke(app, ["pricing", "add", "partner", "--partner-tier", tier, "--markup-pct", "400"])
    assert bad_add.exit_code == 1 and "markup_pct" in bad_add.output
    assert runner.invoke(app, ["pricing", "update", str(rule_id), "--markup-pct", "6", "--by", "bob"]).exit_code == 0
    assert runner.invoke(app, ["pricing", "retire", str(rule_id), "--by", "carol"]).exit_code == 0
    history = runner.invoke(app, ["pricing", "history", str(rule_id)])
    assert [(v["action"], v["changed_by"]) for v in json.loads(history.stdout)] == \
        [("create", "alice"), ("update", "bob"), ("retire", "carol")]


def test_the_operator_page_lists_adds_retires_and_shows_history(api_client, engine):
    import re


    staff = new_staff(engine, "operator")
    assert "sign in" in api_client.get("/pricing").text.lower()
    signed_in = api_client.post("/pricing/login", data={"username": staff.username,
                                                        "password": staff.password},
                                follow_redirects=False)
    assert signed_in.status_code == 303
    page = api_client.get("/pricing").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    tier = f"t-{secrets.token_hex(3)}"
    form = {"csrf": csrf, "level": "partner", "partner_tier": tier, "markup_pct": "6.5", "priority": "3"}
    assert api_client.post("/pricing/rules", data={**form, "csrf": "forged"}).status_code == 403
    bad = api_client.post("/pricing/rules", data={**form, "markup_pct": "101"})
    assert bad.status_code == 422 and "markup_pct: must be between 0 and 100" in bad.text
    assert 'value="101"' in bad.text  # what was typed is kept
    assert api_client.post("/pricing/rules", data=form, follow_redirects=False).status_code == 303
    [rule] = [r for r in api_client.get("/v1/admin/pricing-rules", headers=auth(api_client, staff))
              .json()["items"] if r["partner_tier"] == tier]
    assert f"partner_tier={tier}" in api_client.get("/pricing").text
    assert api_client.post(f"/pricing/rules/{rule['id']}/retire", data={"csrf": csrf},
                           follow_redirects=False).status_code == 303
    assert f"partner_tier={tier}" not in api_client.get("/pricing").text
    history = api_client.get(f"/pricing/rules/{rule['id']}").text.split('id="history"')[1]
    assert history.count(staff.username) == 2 and "retire" in history
