"""Operators manage suppliers through /v1/admin/suppliers against two live API processes (real PostgreSQL and
Redis): a disabled supplier's offers leave the next quote (in the other process within a second) and come back
when it is enabled; the content and inventory syncs skip it; the API key rotates, stored encrypted; the list
shows health, sync runs and quarantined records with their reasons; every change is audited."""

from __future__ import annotations

import datetime as dt
import secrets
import time

import httpx
import sqlalchemy as sa

from core import audit
from core.crypto import decrypt
from core.inventory.pipeline import run_content_sync, run_inventory_sync
from core.suppliers import admin
from tests.api_fixtures import StaffLogin, auth, new_partner, new_staff, seed_city

pytest_plugins = ["tests.supplier_fixtures", "tests.admin_fixtures"]


def _bearer(base: str, credentials) -> dict:
    if isinstance(credentials, StaffLogin):
        response = httpx.post(f"{base}/v1/auth/staff-token", timeout=30,
                              json={"username": credentials.username, "password": credentials.password})
    else:
        response = httpx.post(f"{base}/v1/auth/token", timeout=30,
                              json={"client_id": credentials.client_id, "client_secret": credentials.client_secret})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _quoted_suppliers(engine, base: str, headers: dict, search: dict) -> set[str]:
    """The suppliers behind every offer of a fresh quote (as stored with it, alternatives included)."""
    response = httpx.post(f"{base}/v1/quotes", headers=headers, json=search, timeout=30)
    assert response.status_code == 200, response.text
    quote_id = response.json()["quote_id"]
    shown = len(response.json()["offers"]) + sum(len(o["alternatives"]) for o in response.json()["offers"])
    deadline = time.monotonic() + 10
    while True:  # quotes are stored in batches off the request
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT supplier_code FROM quote_offers WHERE quote_id = :q"),
                                {"q": quote_id}).scalars().all()
        if len(rows) >= shown or time.monotonic() > deadline:
            return set(rows)
        time.sleep(0.05)


def test_a_disabled_supplier_leaves_the_next_quote_in_every_process(engine, redis_url, apis):
    first, second = apis
    tag = secrets.token_hex(3).upper()
    codes = (f"X{tag}", f"Y{tag}")
    start = dt.date.today() + dt.timedelta(days=20)
    seed_city(engine, redis_url, city=f"Switchville {tag}", suppliers=codes, hotels=2, start=start)
    partner = new_partner(engine)
    staff = new_staff(engine, "operator")
    operator = _bearer(first, staff)
    search = {"city": f"Switchville {tag}", "check_in": start.isoformat(),
              "check_out": (start + dt.timedelta(days=2)).isoformat(), "adults": 2}
    headers = {base: _bearer(base, partner) for base in apis}
    for base in apis:
        assert _quoted_suppliers(engine, base, headers[base], search) == set(codes)

    disabled = httpx.post(f"{first}/v1/admin/suppliers/{codes[1]}/disable", headers=operator,
                          json={"note": "contract paused"}, timeout=30)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["enabled"] is False
    assert _quoted_suppliers(engine, first, headers[first], search) == {codes[0]}  # the very next quote
    started = time.monotonic()
    while _quoted_suppliers(engine, second, headers[second], search) != {codes[0]}:
        assert time.monotonic() - started < 1.0, "the other API process still quotes the disabled supplier"
    assert _quoted_suppliers(engine, second, headers[second], search) == {codes[0]}

    assert httpx.post(f"{first}/v1/admin/suppliers/{codes[1]}/disable", headers=operator,
                      timeout=30).status_code == 409
    enabled = httpx.post(f"{second}/v1/admin/suppliers/{codes[1]}/enable", headers=operator, timeout=30)
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    for base in apis:
        deadline = time.monotonic() + 1.0
        while _quoted_suppliers(engine, base, headers[base], search) != set(codes):
            assert time.monotonic() < deadline
    entries = audit.search(engine, target=f"supplier:{codes[1]}")
    assert [(e["action"], e["actor"], e["source"]) for e in entries] == [
        ("supplier.enable", staff.username, "api"), ("supplier.disable", staff.username, "api")]
    assert entries[1]["note"] == "contract paused"


def test_a_disabled_supplier_is_not_synced(engine, registered, fast_settings, database_url, settings):
    actor = audit.Actor("test-operator", "operator", "cli")
    admin.set_enabled(engine, actor, "B", False, "maintenance window")
    try:
        content = run_content_sync(fast_settings, database_url, run_id="ops-content-skip")
        inventory = run_inventory_sync(fast_settings, database_url, run_id="ops-inventory-skip", days=1)
        explicit = run_content_sync(fast_settings, database_url, run_id="ops-content-only-b", only=["B"])
    finally:
        admin.set_enabled(engine, actor, "B", True)
    assert "B" not in content and "B" not in inventory and not explicit
    assert {"A", "C"} <= set(content) and {"A", "C"} <= set(inventory)
    with engine.connect() as conn:
        runs = conn.execute(sa.text(
            "SELECT DISTINCT supplier_code FROM supplier_sync_runs WHERE run_id IN ('ops-content-skip',"
            " 'ops-inventory-skip', 'ops-content-only-b')")).scalars().all()
    assert "B" not in runs and {"A", "C"} <= set(runs)


def test_list_health_runs_quarantine_and_key_rotation(engine, registered, fast_settings, database_url, settings,
                                                      api_client):
    run_content_sync(fast_settings, database_url, run_id="ops-health", only=["A"])
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO supplier_quarantine (supplier_code, feed, record, reason, run_id) VALUES"
            " ('A', 'inventory', '{\"hotel\": \"h1\", \"price\": -5}', 'negative_price: -5', 'ops-q'),"
            " ('A', 'inventory', '{\"hotel\": \"h2\"}', 'missing_field: currency', 'ops-q')"))
    staff = new_staff(engine, "operator")
    operator = auth(api_client, staff)

    listed = api_client.get("/v1/admin/suppliers", headers=operator).json()["items"]
    a = next(s for s in listed if s["code"] == "A")
    assert a["enabled"] and a["key_stored"] and a["health"]["breaker"] == "closed"
    assert a["health"]["last_content_sync"] is not None and a["health"]["quarantined"] >= 2

    runs = api_client.get("/v1/admin/suppliers/A/sync-runs", headers=operator,
                          params={"feed": "content", "limit": 1}).json()
    assert runs["total"] >= 1 and len(runs["items"]) == 1 and runs["items"][0]["feed"] == "content"
    quarantined = api_client.get("/v1/admin/suppliers/A/quarantine", headers=operator,
                                 params={"run_id": "ops-q", "reason": "negative"}).json()
    assert quarantined["total"] == 1
    assert quarantined["items"][0]["reason"] == "negative_price: -5"
    assert quarantined["items"][0]["record"] == {"hotel": "h1", "price": -5}
    two_pages = [api_client.get("/v1/admin/suppliers/A/quarantine", headers=operator,
                                params={"run_id": "ops-q", "limit": 1, "offset": offset}).json()["items"][0]["id"]
                 for offset in (0, 1)]
    assert len(set(two_pages)) == 2

    with engine.connect() as conn:
        old_key = conn.execute(sa.text("SELECT api_key_encrypted FROM suppliers WHERE code = 'A'")).scalar_one()
    try:
        rotated = api_client.put("/v1/admin/suppliers/A/api-key", headers=operator,
                                 json={"api_key": "a-brand-new-key-123", "note": "yearly rotation"})
        assert rotated.status_code == 200, rotated.text
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT api_key_encrypted FROM suppliers WHERE code = 'A'")).scalar_one()
        assert b"a-brand-new-key" not in bytes(stored)
        assert decrypt(bytes(stored), settings.encryption_keys()) == "a-brand-new-key-123"
        [entry] = audit.search(engine, target="supplier:A", action="supplier.rotate_key")
        assert entry["actor"] == staff.username and "a-brand-new-key" not in str(entry)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE suppliers SET api_key_encrypted = :k WHERE code = 'A'"), {"k": old_key})

    for path, params, field in (("/v1/admin/suppliers/A/sync-runs", {"feed": "rates"}, "query.feed"),
                                ("/v1/admin/suppliers/A/quarantine", {"limit": 0}, "query.limit")):
        bad = api_client.get(path, headers=operator, params=params)
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == field
    short = api_client.put("/v1/admin/suppliers/A/api-key", headers=operator, json={"api_key": "short"})
    assert short.status_code == 422 and short.json()["error"]["fields"][0]["field"] == "api_key"
    assert api_client.get("/v1/admin/suppliers/NOPE", headers=operator).status_code == 404
    assert api_client.post("/v1/admin/suppliers/NOPE/disable", headers=operator).status_code == 404
