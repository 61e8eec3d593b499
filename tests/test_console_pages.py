"""The operator console's pages without a browser (so these never skip): an operator works an order, a partner, a
supplier, a hotel mapping and a config key through the pages, each change audited under the operator's username
with source console; finance cannot use the operators' pages or actions; a forged form (no or a wrong CSRF value,
no session) changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import audit
from tests.api_fixtures import auth, new_partner, new_staff, seed_city

pytest_plugins = ["tests.admin_fixtures"]


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def _sign_in(client, staff, next_url: str = "/console"):
    client.cookies.clear()
    response = client.post("/console/login", data={"username": staff.username, "password": staff.password,
                                                    "next": next_url})
    assert response.status_code == 200, response.text
    return response


def _confirm_and_post(client, path: str, **fields):
    """Open the action's confirm step, then post it with the page's CSRF value (as the button does)."""
    step = client.get(path)
    assert step.status_code == 200 and 'id="confirm"' in step.text, step.text
    return client.post(path, data={"csrf": _csrf(step.text), **fields}, follow_redirects=False)


def test_an_operator_works_orders_partners_suppliers_and_settings(api_client, engine, redis_url, settings):
    from tests.admin_fixtures import order_held_for_review

    reference = f"PO-{secrets.token_hex(4)}"
    creds, partner_headers, order = order_held_for_review(api_client, engine, redis_url, settings,
                                                          client_reference=reference)
    operator = new_staff(engine, "operator")
    home = _sign_in(api_client, operator).text
    assert 'href="/console/orders"' in home and 'id="review-waiting"' in home

    found = api_client.get("/console/orders", params={"client_reference": reference})
    assert found.text.count("data-order-id=") == 1 and order["order_id"] in found.text
    assert order["order_id"] in api_client.get("/console/orders/review",
                                               params={"partner_id": str(creds.partner_id)}).text
    bad_date = api_client.get("/console/orders", params={"created_from": "yesterday"})
    assert bad_date.status_code == 200 and "created_from: a date" in bad_date.text

    partner_page = f"/console/partners/{creds.partner_id}"
    held = re.search(r'id="partner-credit-used">([0-9.]+) CNY', api_client.get(partner_page).text)
    assert held and Decimal(held[1]) > 0  # the order in review holds credit
    rejected = _confirm_and_post(api_client, f"/console/orders/{order['order_id']}/reject", note="watch list")
    assert rejected.status_code == 303
    shown = api_client.get(rejected.headers["location"]).text
    assert "Order rejected by" in shown and 'id="order-status">FAILED' in shown and "watch list" in shown
    [entry] = audit.search(engine, target=f"order:{order['order_id']}", action="order.reject")
    assert (entry["actor"], entry["source"]) == (operator.username, "console")

    assert "Suspend…" in api_client.get(partner_page).text
    suspended = _confirm_and_post(api_client, f"{partner_page}/suspend", note="unpaid")
    assert suspended.status_code == 303 and "Suspended+by" in suspended.headers["location"]
    refused = api_client.get("/v1/orders", headers=partner_headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "partner_suspended"
    bad_limit = _confirm_and_post(api_client, f"{partner_page}/update", credit_limit="-5")
    assert bad_limit.status_code == 422 and "credit_limit: must be a non-negative amount" in bad_limit.text
    assert _confirm_and_post(api_client, f"{partner_page}/update", tier="gold", credit_limit="2500").status_code == 303
    shown = api_client.get(partner_page).text
    assert 'id="partner-tier">gold' in shown
    assert 'id="partner-credit-used">0.00 CNY' in shown and 'id="partner-credit-available">2500.00 CNY' in shown
    rotated = _confirm_and_post(api_client, f"/console/credentials/{creds.client_id}/rotate?back={partner_page}")
    assert rotated.status_code == 200 and 'id="new-client-secret"' in rotated.text
    assert 'id="new-client-secret"' not in api_client.get(partner_page).text  # shown once
    listed = api_client.get("/console/partners", params={"status": "suspended", "name": ""}).text
    assert f'data-partner-id="{creds.partner_id}"' in listed
    assert {e["action"] for e in audit.search(engine, target=f"partner:{creds.partner_id}", actor=operator.username)
            } == {"partner.suspend", "partner.update"}

    code = f"Q{secrets.token_hex(2).upper()}"
    seed_city(engine, redis_url, city=f"Consoleville {code}", suppliers=(code,), hotels=1)
    assert f'data-supplier="{code}"' in api_client.get("/console/suppliers").text
    disabled = _confirm_and_post(api_client, f"/console/suppliers/{code}/disable", note="contract paused")
    assert disabled.status_code == 303
    assert 'id="supplier-enabled" class="status-disabled">disabled' in api_client.get(
        disabled.headers["location"]).text
    short_key = _confirm_and_post(api_client, f"/console/suppliers/{code}/rotate-key", api_key="short")
    assert short_key.status_code == 422 and "api_key: 8 to 500 characters" in short_key.text

    assert api_client.get("/console/mappings").status_code == 200
    key = f"console.test.{secrets.token_hex(3)}"
    not_json = _confirm_and_post(api_client, f"/console/settings/config/{key}", value="{oops", env="test")
    assert not_json.status_code == 422 and "value: must be JSON" in not_json.text
    assert _confirm_and_post(api_client, f"/console/settings/config/{key}", value='{"limit": 3}',
                             env="test").status_code == 303
    assert key in api_client.get("/console/settings", params={"key": key}).text
    [config_entry] = audit.search(engine, target=f"config:test:{key}")
    assert (config_entry["actor"], config_entry["source"], config_entry["after"]) == (
        operator.username, "console", {"value": {"limit": 3}})
    missing = _confirm_and_post(api_client, f"/console/settings/config/{key}/delete", env="staging")
    assert missing.status_code == 404 and "is not set in env" in missing.text
    deleted = _confirm_and_post(api_client, f"/console/settings/config/{key}/delete", env="test")
    assert deleted.status_code == 303
    assert "No keys match." in api_client.get("/console/settings", params={"key": key}).text
    latest = audit.search(engine, target=f"config:test:{key}")[0]
    assert (latest["action"], latest["actor"], latest["source"], latest["before"], latest["after"]) == (
        "config.delete", operator.username, "console", {"value": {"limit": 3}}, None)
    assert _confirm_and_post(api_client, "/console/settings/flags/risk.auto.reject",
                             rollout_pct="101").status_code == 422


def test_finance_cannot_use_the_operators_pages_or_actions(api_client, engine, settings):
    partner = new_partner(engine)
    finance = new_staff(engine, "finance")
    home = _sign_in(api_client, finance).text
    assert 'href="/console/audit"' in home and 'href="/console/orders"' not in home
    assert 'href="/settlements"' in home
    for path in ("/console/orders", f"/console/partners/{partner.partner_id}", "/console/suppliers",
                 "/console/mappings", "/console/settings", f"/console/partners/{partner.partner_id}/suspend"):
        page = api_client.get(path)
        assert page.status_code == 403 and 'id="refused"' in page.text, path
    # A valid CSRF value of finance's own session (no console page gives finance a form to take it from).
    session_id = api_client.cookies.get("staff_session")
    csrf = hmac.new(settings.jwt_secret.get_secret_value().encode(), f"console-csrf:{session_id}".encode(),
                    hashlib.sha256).hexdigest()[:32]
    attempt = api_client.post(f"/console/partners/{partner.partner_id}/suspend", data={"csrf": csrf},
                              follow_redirects=False)
    assert attempt.status_code == 403
    headers = auth(api_client, finance)
    assert api_client.get("/v1/admin/orders", headers=headers).status_code == 403
    assert audit.search(engine, target=f"partner:{partner.partner_id}", action="partner.suspend") == []


@pytest.mark.parametrize("csrf", [None, "0" * 32])
def test_forged_forms_change_nothing(api_client, engine, csrf):
    partner = new_partner(engine)
    operator = new_staff(engine, "operator")
    _sign_in(api_client, operator)
    data = {"note": "forged"} | ({"csrf": csrf} if csrf else {})
    forged = api_client.post(f"/console/partners/{partner.partner_id}/suspend", data=data, follow_redirects=False)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "forbidden"
    api_client.cookies.clear()
    anonymous = api_client.post(f"/console/partners/{partner.partner_id}/suspend", data={"csrf": "x"},
                                follow_redirects=False)
    assert anonymous.status_code == 401
    assert api_client.get("/v1/orders", headers=auth(api_client, partner)).status_code == 200
    assert audit.search(engine, target=f"partner:{partner.partner_id}", action="partner.suspend") == []


def test_an_operator_decides_a_hotel_mapping_on_the_review_page(api_client, engine):
    tag = secrets.token_hex(3).upper()
    code, master = f"M{tag}", f"MH{tag}"
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO suppliers (code, name, protocol, reliability) VALUES (:c, :c, 'json', 0.9)"),
                     {"c": code})
        conn.execute(sa.text("INSERT INTO master_hotels (id, name, city, country) VALUES (:id, 'Harbour View',"
                             " 'Xiamen', 'CN')"), {"id": master})
        hotel = conn.execute(sa.text(
            "INSERT INTO supplier_hotels (supplier_code, supplier_hotel_id, name, city, country, content_hash)"
            " VALUES (:c, 'h1', 'Harbour View Hotel', 'Xiamen', 'CN', 'x') RETURNING id"), {"c": code}).scalar_one()
        mapping = conn.execute(sa.text(
            "INSERT INTO hotel_mappings (supplier_hotel, decision, status, score, features, candidates, content_hash,"
            " algorithm, decided_by, updated_at) VALUES (:h, 'review', 'pending_review', 0.7, '{}',"
            " CAST(:candidates AS JSONB), 'x', 'test', 'machine', now()) RETURNING id"),
            {"h": hotel, "candidates": json.dumps([{"hotel_id": master, "score": 0.7}])}).scalar_one()
    operator = new_staff(engine, "operator")
    _sign_in(api_client, operator)
    queue = api_client.get("/console/mappings", params={"supplier": code}).text
    assert f'data-mapping-id="{mapping}"' in queue and "Harbour View Hotel" in queue
    unknown = _confirm_and_post(api_client, f"/console/mappings/hotel/{mapping}/accept", hotel_id="NOPE")
    assert unknown.status_code == 422 and "does not exist" in unknown.text
    accepted = _confirm_and_post(api_client, f"/console/mappings/hotel/{mapping}/accept?hotel_id={master}",
                                 hotel_id=master)
    assert accepted.status_code == 303 and "accepted" in accepted.headers["location"]
    assert f'data-mapping-id="{mapping}"' not in api_client.get("/console/mappings", params={"supplier": code}).text
    [entry] = audit.search(engine, target=f"hotel_mapping:{mapping}")
    assert (entry["action"], entry["actor"], entry["source"]) == ("mapping.accept", operator.username, "console")


def test_an_operator_creates_a_partner_and_sub_agent_revokes_a_credential_and_changes_a_flag(api_client, engine):
    with engine.begin() as conn:  # the default rule set names gold
        conn.execute(sa.text("INSERT INTO pricing_rules (level, partner_tier, markup_pct)"
                             " SELECT 'partner', 'gold', 3 WHERE NOT EXISTS (SELECT 1 FROM pricing_rules"
                             " WHERE active AND level = 'partner' AND partner_tier = 'gold')"))
    operator = new_staff(engine, "operator")
    _sign_in(api_client, operator)
    name = f"Console Travel {secrets.token_hex(3)}"
    blank = _confirm_and_post(api_client, "/console/partners/new", name="", tier="gold")
    assert blank.status_code == 422 and "name: 1 to 200 characters" in blank.text
    created = _confirm_and_post(api_client, "/console/partners/new", name=name, tier="gold", credit_limit="5000",
                                currency="USD", commission_pct="2.5")
    assert created.status_code == 200 and "shown only once" in created.text
    client_id = re.search(r'id="new-client-id">([^<]+)<', created.text).group(1)
    secret = re.search(r'id="new-client-secret">([^<]+)<', created.text).group(1)
    assert api_client.post("/v1/auth/token", json={"client_id": client_id, "client_secret": secret}).status_code == 200
    parent_id = re.search(r'/console/partners/([0-9a-f-]{36})/suspend', created.text).group(1)
    assert 'id="partner-warning"' not in created.text  # gold: a partner-level rule names it
    sub = _confirm_and_post(api_client, f"/console/partners/new?parent_id={parent_id}", name=f"{name} Sub",
                            tier="gold-plus")
    assert sub.status_code == 200 and "Sub-agent of" in sub.text
    # a tier no rule names would drop the partner markup from its quotes without a word: the page says so
    assert re.search(r'id="partner-warning">no active partner-level pricing rule names tier \S*gold-plus', sub.text)
    assert f"{name} Sub" in api_client.get(f"/console/partners/{parent_id}").text

    revoked = _confirm_and_post(
        api_client, f"/console/credentials/{client_id}/revoke?back=/console/partners/{parent_id}", note="leaked")
    assert revoked.status_code == 303 and revoked.headers["location"].startswith(f"/console/partners/{parent_id}?")
    assert api_client.post("/v1/auth/token", json={"client_id": client_id, "client_secret": secret}).status_code == 401
    again = _confirm_and_post(api_client, f"/console/credentials/{client_id}/revoke")
    assert again.status_code == 409 and "already revoked" in again.text

    changed = _confirm_and_post(api_client, "/console/settings/flags/matching.ai.boost", rollout_pct="35")
    assert changed.status_code == 303
    assert 'data-flag="matching.ai.boost"' in api_client.get("/console/settings").text
    [flag_entry] = audit.search(engine, target="flag:matching.ai.boost", actor=operator.username)
    assert flag_entry["after"] == {"rollout_pct": 35} and flag_entry["source"] == "console"
    assert {e["action"] for e in audit.search(engine, actor=operator.username)} >= {
        "partner.create", "credential.revoke", "flag.set"}


def test_an_operator_cancels_an_order_with_a_reason(api_client, engine, redis_url, settings):
    from tests.admin_fixtures import order_held_for_review

    _, _, order = order_held_for_review(api_client, engine, redis_url, settings)
    operator = new_staff(engine, "operator")
    _sign_in(api_client, operator)
    path = f"/console/orders/{order['order_id']}/cancel"
    no_reason = _confirm_and_post(api_client, path, reason="  ")
    assert no_reason.status_code == 422 and "reason: say why" in no_reason.text
    cancelled = _confirm_and_post(api_client, path, reason="duplicate booking")
    assert cancelled.status_code == 303, cancelled.text
    shown = api_client.get(cancelled.headers["location"]).text
    assert 'id="order-status">CANCELLED' in shown and "duplicate booking" in shown
    [entry] = audit.search(engine, target=f"order:{order['order_id']}", action="order.cancel")
    assert (entry["actor"], entry["source"], entry["note"]) == (operator.username, "console", "duplicate booking")


def test_only_a_flash_message_the_server_signed_is_shown(api_client, engine):
    operator = new_staff(engine, "operator")
    _sign_in(api_client, operator)
    changed = _confirm_and_post(api_client, "/console/settings/flags/matching.ai.boost", rollout_pct="20")
    assert changed.status_code == 303
    real = api_client.get(changed.headers["location"])
    assert 'id="flash"' in real.text and "Flag matching.ai.boost changed." in real.text

    phishing = "Your session expired: sign in again at https://evil.example"
    forged = api_client.get("/console/settings", params={"flash": phishing})
    assert forged.status_code == 200 and 'id="flash"' not in forged.text and "evil.example" not in forged.text
    signature = re.search(r"flash_sig=([^&]+)", changed.headers["location"]).group(1)
    reused = api_client.get("/console/settings", params={"flash": phishing, "flash_sig": signature})
    assert 'id="flash"' not in reused.text and "evil.example" not in reused.text
