"""Operators manage partners through /v1/admin/partners against two live API processes (real PostgreSQL and
Redis): a suspension refuses the partner's cached token and its client credentials at once, in both processes,
sub-agents included; reactivation restores; a rotated or revoked credential's secret and tokens stop working;
every change is in the audit log under the operator's username; bad input is 4xx naming the field."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from core import audit
from tests.api_fixtures import new_partner, new_staff

pytest_plugins = ["tests.admin_fixtures"]


def _token(base: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/auth/token", json={"client_id": client_id, "client_secret": secret}, timeout=30)


def _bearer(base: str, client_id: str, secret: str) -> dict:
    response = _token(base, client_id, secret)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def operator(engine, apis) -> dict:
    staff = new_staff(engine, "operator")
    response = httpx.post(f"{apis[0]}/v1/auth/staff-token", json={"username": staff.username,
                                                                  "password": staff.password}, timeout=30)
    assert response.status_code == 200, response.text
    return {"headers": {"Authorization": f"Bearer {response.json()['access_token']}"}, "client_id": staff.username}


def _orders(base: str, headers: dict) -> httpx.Response:
    return httpx.get(f"{base}/v1/orders", headers=headers, timeout=30)


def _until(check, timeout_s: float = 1.0) -> float:
    """Seconds until `check()` held (fails after `timeout_s`)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "not within the time allowed"
        time.sleep(0.01)
    return time.monotonic() - started


def _code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_suspension_refuses_tokens_and_credentials_at_once_in_every_process(engine, apis, operator):
    first, second = apis
    created = httpx.post(f"{first}/v1/admin/partners", headers=operator["headers"], timeout=30,
                         json={"name": "Suspend Me Travel", "tier": "gold", "credit_limit": "25000"})
    assert created.status_code == 201, created.text
    parent = created.json()["partner"]
    parent_creds = created.json()["credentials"]
    sub = httpx.post(f"{first}/v1/admin/partners", headers=operator["headers"], timeout=30,
                     json={"name": "Its Sub-Agent", "parent_id": parent["partner_id"]}).json()
    tokens = {}
    for name, creds in (("parent", parent_creds), ("sub", sub["credentials"])):
        tokens[name] = _bearer(second, creds["client_id"], creds["client_secret"])
        for base in apis:  # cached in both processes
            assert _orders(base, tokens[name]).status_code == 200

    suspended = httpx.post(f"{first}/v1/admin/partners/{parent['partner_id']}/suspend", headers=operator["headers"],
                           json={"note": "unpaid invoices"}, timeout=30)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"

    refused = _orders(first, tokens["parent"])  # the process that made the change: the very next request
    assert refused.status_code == 403 and _code(refused) == "partner_suspended"
    # The other process learns it from PostgreSQL's notification, well within a second.
    _until(lambda: _orders(second, tokens["parent"]).status_code == 403)
    for base in apis:
        sub_refused = _orders(base, tokens["sub"])
        assert sub_refused.status_code == 403 and _code(sub_refused) == "partner_suspended"
        quote = httpx.post(f"{base}/v1/quotes", headers=tokens["parent"], timeout=30, json={
            "city": "Nowhere", "check_in": "2030-01-01", "check_out": "2030-01-02", "adults": 1})
        assert quote.status_code == 403 and _code(quote) == "partner_suspended"
        for creds in (parent_creds, sub["credentials"]):
            signing_in = _token(base, creds["client_id"], creds["client_secret"])
            assert signing_in.status_code == 403 and _code(signing_in) == "partner_suspended"
    again = httpx.post(f"{first}/v1/admin/partners/{parent['partner_id']}/suspend", headers=operator["headers"],
                       timeout=30)
    assert again.status_code == 409

    restored = httpx.post(f"{second}/v1/admin/partners/{parent['partner_id']}/reactivate",
                          headers=operator["headers"], json={"note": "paid"}, timeout=30)
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    for base in apis:
        _until(lambda base=base: _orders(base, tokens["parent"]).status_code == 200)
        assert _orders(base, tokens["sub"]).status_code == 200
        assert _token(base, parent_creds["client_id"], parent_creds["client_secret"]).status_code == 200

    entries = audit.search(engine, target=f"partner:{parent['partner_id']}")
    assert [(e["action"], e["actor"], e["source"]) for e in entries] == [
        ("partner.reactivate", operator["client_id"], "api"), ("partner.suspend", operator["client_id"], "api"),
        ("partner.create", operator["client_id"], "api")]
    assert entries[1]["note"] == "unpaid invoices"
    assert entries[1]["before"] == {"status": "active"} and entries[1]["after"] == {"status": "suspended"}


def test_rotated_and_revoked_credentials_stop_working_at_once(engine, apis, operator):
    first, second = apis
    partner = new_partner(engine)
    old_token = _bearer(second, partner.client_id, partner.client_secret)
    assert _orders(second, old_token).status_code == 200
    extra = httpx.post(f"{first}/v1/admin/partners/{partner.partner_id}/credentials", headers=operator["headers"],
                       timeout=30)
    assert extra.status_code == 201, extra.text
    extra_creds = extra.json()
    extra_token = _bearer(second, extra_creds["client_id"], extra_creds["client_secret"])

    rotated = httpx.post(f"{first}/v1/admin/credentials/{partner.client_id}/rotate", headers=operator["headers"],
                         json={"note": "leaked in a log"}, timeout=30)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret != partner.client_secret
    _until(lambda: _orders(second, old_token).status_code == 401)
    assert _code(_orders(first, old_token)) == "token_revoked"
    assert _token(first, partner.client_id, partner.client_secret).status_code == 401
    new_token = _bearer(second, partner.client_id, new_secret)
    assert _orders(first, new_token).status_code == 200 and _orders(second, new_token).status_code == 200
    assert _orders(second, extra_token).status_code == 200  # the partner's other credential is untouched

    revoked = httpx.post(f"{first}/v1/admin/credentials/{extra_creds['client_id']}/revoke",
                         headers=operator["headers"], json={"note": "agency closed its office"}, timeout=30)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    _until(lambda: _orders(second, extra_token).status_code == 401)
    assert _code(_orders(first, extra_token)) == "credential_revoked"
    signing_in = _token(second, extra_creds["client_id"], extra_creds["client_secret"])
    assert signing_in.status_code == 401 and _code(signing_in) == "credential_revoked"
    assert _token(second, extra_creds["client_id"], "a wrong secret").json()["error"]["code"] == "unauthorized"
    assert httpx.post(f"{first}/v1/admin/credentials/{extra_creds['client_id']}/rotate",
                      headers=operator["headers"], timeout=30).status_code == 409

    detail = httpx.get(f"{first}/v1/admin/partners/{partner.partner_id}", headers=operator["headers"], timeout=30)
    by_id = {c["client_id"]: c for c in detail.json()["credentials"]}
    assert by_id[partner.client_id]["generation"] == 2 and by_id[partner.client_id]["active"]
    assert not by_id[extra_creds["client_id"]]["active"]
    actions = [(e["action"], e["target"], e["actor"]) for e in audit.search(engine, action="credential.", limit=500)]
    assert ("credential.rotate", f"credential:{partner.client_id}", operator["client_id"]) in actions
    assert ("credential.revoke", f"credential:{extra_creds['client_id']}", operator["client_id"]) in actions
    secrets_in_log = [e for e in audit.search(engine, limit=500) if new_secret in str(e)]
    assert not secrets_in_log


def test_list_filters_changes_and_validation(engine, apis, operator):
    base = apis[0]
    headers = operator["headers"]
    parent = new_partner(engine, "Filter Parent Travel")
    sub = httpx.post(f"{base}/v1/admin/partners", headers=headers, timeout=30,
                     json={"name": "Filter Sub", "parent_id": str(parent.partner_id), "tier": "platinum"}).json()
    listed = httpx.get(f"{base}/v1/admin/partners", params={"parent_id": str(parent.partner_id)}, headers=headers,
                       timeout=30).json()
    assert [p["partner_id"] for p in listed["items"]] == [sub["partner"]["partner_id"]] and listed["total"] == 1
    by_tier = httpx.get(f"{base}/v1/admin/partners", params={"tier": "platinum", "name": "filter"}, headers=headers,
                        timeout=30).json()
    assert [p["name"] for p in by_tier["items"]] == ["Filter Sub"]
    subs = httpx.get(f"{base}/v1/admin/partners/{parent.partner_id}/sub-agents", headers=headers, timeout=30).json()
    assert subs["total"] == 1
    page = httpx.get(f"{base}/v1/admin/partners", params={"limit": 1, "offset": 1}, headers=headers, timeout=30)
    assert page.status_code == 200 and len(page.json()["items"]) == 1 and page.json()["total"] >= 2

    changed = httpx.patch(f"{base}/v1/admin/partners/{parent.partner_id}", headers=headers, timeout=30,
                          json={"tier": "gold", "credit_limit": "750000.50", "note": "annual review"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["tier"] == "gold"
    assert changed.json()["credit_limit"] == {"amount": "750000.50", "currency": "CNY"}
    [entry] = audit.search(engine, target=f"partner:{parent.partner_id}", action="partner.update")
    assert entry["before"]["tier"] == "standard" and entry["after"] == {"tier": "gold", "credit_limit": "750000.50"}

    for body, field in (({"tier": "Gold Plus!"}, "tier"), ({"credit_limit": "-5"}, "credit_limit"),
                        ({"credit_limit": "1.234"}, "credit_limit"), ({"currency": "C1Y"}, "currency"),
                        ({"commission_pct": "101"}, "commission_pct"), ({}, "body"), ({"colour": "red"}, "colour")):
        bad = httpx.patch(f"{base}/v1/admin/partners/{parent.partner_id}", headers=headers, json=body, timeout=30)
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["error"]["fields"][0]["field"] == field, (body, bad.text)
    bad_parent = httpx.post(f"{base}/v1/admin/partners", headers=headers, timeout=30,
                            json={"name": "Orphan", "parent_id": "00000000-0000-0000-0000-000000000000"})
    assert bad_parent.status_code == 422 and bad_parent.json()["error"]["fields"][0]["field"] == "parent_id"
    assert httpx.get(f"{base}/v1/admin/partners", params={"status": "sleeping"}, headers=headers,
                     timeout=30).status_code == 422
    assert httpx.get(f"{base}/v1/admin/partners/00000000-0000-0000-0000-000000000000", headers=headers,
                     timeout=30).status_code == 404
    partner_headers = _bearer(base, parent.client_id, parent.client_secret)
    assert httpx.get(f"{base}/v1/admin/partners", headers=partner_headers, timeout=30).status_code == 403
    assert httpx.post(f"{base}/v1/admin/partners/{parent.partner_id}/suspend", headers=partner_headers,
                      timeout=30).status_code == 403


def test_a_tier_no_partner_rule_names_is_said_wherever_the_partner_is_shown(engine, apis, operator):
    base, headers = apis[0], operator["headers"]
    with engine.begin() as conn:
        rule = conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_tier, markup_pct)"
                                    " VALUES ('partner', 'priced-tier', 4) RETURNING id")).scalar_one()
    partner: dict = {}
    try:
        created = httpx.post(f"{base}/v1/admin/partners", headers=headers, timeout=30,
                             json={"name": "Priced Tier Travel", "tier": "priced-tier"})
        assert created.status_code == 201, created.text
        partner = created.json()["partner"]
        assert partner["warnings"] == [] and partner["partner_rules"] == 1
        typo = httpx.patch(f"{base}/v1/admin/partners/{partner['partner_id']}", headers=headers, timeout=30,
                           json={"tier": "priced-teir"})
        assert typo.status_code == 200  # accepted: rules may name any tier, later too
        assert typo.json()["partner_rules"] == 0
        assert typo.json()["warnings"] == ["no active partner-level pricing rule names tier 'priced-teir' or this "
                                           "partner: its quotes carry no partner markup (hotelctl pricing list)"]
        listed = httpx.get(f"{base}/v1/admin/partners", params={"name": "Priced Tier"}, headers=headers,
                           timeout=30).json()["items"]
        assert [p["warnings"] != [] for p in listed] == [True]
        with engine.begin() as conn:  # a rule for this partner alone prices it again
            conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_id, markup_pct) VALUES ('partner', :p, 1)"),
                         {"p": partner["partner_id"]})
        again = httpx.get(f"{base}/v1/admin/partners/{partner['partner_id']}", headers=headers, timeout=30).json()
        assert again["warnings"] == [] and again["partner_rules"] == 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE pricing_rules SET active = false WHERE id = :r OR partner_id = :p"),
                         {"r": rule, "p": partner.get("partner_id")})
