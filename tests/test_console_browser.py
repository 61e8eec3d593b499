"""The operator console in a real headless Chromium (Playwright over Debian's /usr/bin/chromium) against the live
API on real PostgreSQL and Redis: an operator made with `hotelctl staff create` signs in, finds a REVIEW order by the
partner's reference and approves it, suspends a partner (its next API call is refused with 403), disables a supplier
(its offers leave the next quote), and finds each of those in the audit log page under the operator's name. Also
usable on a phone-sized screen. Real typing and clicks; a screenshot of the page is kept when a test fails."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from typer.testing import CliRunner

from tests.api_fixtures import guests, new_partner, new_staff, order_body, seed_city, seed_from_simulator
from tests.browser import keep_screenshot, needs_chromium, sign_in
from tests.test_admin_suppliers import _quoted_suppliers

pytestmark = needs_chromium
pytest_plugins = ["tests.admin_fixtures", "tests.browser"]


@pytest.fixture(scope="module")
def live(settings, migrated):
    """The API served over HTTP (a fifth of the credit limit holds an order for review)."""
    from api.app import create_app
    from tests.live_server import serve

    with serve(create_app(settings.model_copy(update={"risk_score_threshold": 20}), migrated)) as url:
        yield url


def _hotelctl_staff_create(settings, username: str, password: str) -> None:
    from cli.main import app

    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "HOTEL_DATA_DIR": str(settings.hotel_data_dir), "JWT_SECRET": settings.jwt_secret.get_secret_value(),
           "ENCRYPTION_SECRET": settings.encryption_secret.get_secret_value()}
    result = CliRunner().invoke(app, ["staff", "create", username, "--role", "operator", "--name", "Olga Operator",
                                      "--password-stdin", "--by", "pytest"], input=f"{password}\n", env=env)
    assert result.exit_code == 0, result.output


def _click_and_wait(page, selector: str) -> None:
    """Click a visible, enabled link or button and wait for the page it opens."""
    target = page.locator(selector)
    expect(target).to_be_visible()
    expect(target).to_be_enabled()
    with page.expect_navigation():
        target.click()


def _confirm(page, **fields: str) -> None:
    """Fill the confirm step's fields by typing, then press its button."""
    expect(page.locator("#confirm-form")).to_be_visible()
    for name, value in fields.items():
        page.locator(f"#field-{name}").press_sequentially(value)
    _click_and_wait(page, "#confirm")


def _bearer(live: str, partner) -> dict:
    response = httpx.post(f"{live}/v1/auth/token", timeout=30,
                          json={"client_id": partner.client_id, "client_secret": partner.client_secret})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _review_order(live: str, engine, redis_url, sim, partner, reference: str) -> dict:
    start = dt.date.today() + dt.timedelta(days=60)
    target = seed_from_simulator(engine, redis_url, sim, start=start, nights=1, hotels=1, allotment=20)[0]
    headers = _bearer(live, partner)
    quote = httpx.post(f"{live}/v1/quotes", headers=headers, timeout=30, json={
        "hotel_ids": [target["hotel_id"]], "check_in": start.isoformat(),
        "check_out": (start + dt.timedelta(days=1)).isoformat(), "adults": 1})
    assert quote.status_code == 200, quote.text
    offer = next(o for o in quote.json()["offers"] if o["refundable"] and o["room_type"] == target["room_name"]
                 and o["board"] == "RO")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE partners SET credit_limit = :l WHERE id = :id"),
                     {"l": Decimal(offer["total_price"]["amount"]) * 4, "id": partner.partner_id})
    order = httpx.post(f"{live}/v1/orders", headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, timeout=60,
                       json=order_body(offer["offer_id"], guests=guests(last="Reviewed"), client_reference=reference))
    assert order.status_code == 201 and order.json()["status"] == "REVIEW", order.text
    return order.json()


def test_an_operator_approves_suspends_disables_and_finds_it_all_in_the_audit_log(
        page, live, engine, redis_url, settings, supplier_a):
    username, password = f"olga-{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    _hotelctl_staff_create(settings, username, password)
    partner = new_partner(engine)
    reference = f"PO-{secrets.token_hex(4)}"
    order = _review_order(live, engine, redis_url, supplier_a, partner, reference)

    # Sign in and find the order by the partner's reference.
    sign_in(page, f"{live}/console", username, password)
    expect(page.locator("#signed-in-as")).to_have_text("Olga Operator")
    _click_and_wait(page, "nav a[href='/console/orders']")
    page.locator("#filter-client-reference").press_sequentially(reference)
    _click_and_wait(page, "#search")
    rows = page.locator("#orders tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("REVIEW")
    _click_and_wait(page, f"#orders tr[data-order-id='{order['order_id']}'] td a >> nth=0")
    _click_and_wait(page, "#approve")
    _confirm(page, note="called the agency: genuine")
    expect(page.locator("#flash")).to_contain_text(f"Order approved by {username}")
    expect(page.locator("#order-status")).to_have_text("CONFIRMED")
    expect(page.locator("#timeline")).to_contain_text("called the agency: genuine")

    # Suspend the partner: its next API call is refused.
    partner_headers = _bearer(live, partner)
    assert httpx.get(f"{live}/v1/orders", headers=partner_headers, timeout=30).status_code == 200
    _click_and_wait(page, "#order a[href^='/console/partners/']")
    _click_and_wait(page, "#suspend")
    _confirm(page, note="unpaid invoices")
    expect(page.locator("#partner-status")).to_have_text("suspended")
    refused = httpx.get(f"{live}/v1/orders", headers=partner_headers, timeout=30)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "partner_suspended", refused.text

    # Disable a supplier: its offers leave the next quote.
    tag = secrets.token_hex(3).upper()
    codes = (f"K{tag}", f"L{tag}")
    start = dt.date.today() + dt.timedelta(days=21)
    seed_city(engine, redis_url, city=f"Browserville {tag}", suppliers=codes, hotels=2, start=start)
    shopper = new_partner(engine)
    shopper_headers = _bearer(live, shopper)
    search = {"city": f"Browserville {tag}", "check_in": start.isoformat(),
              "check_out": (start + dt.timedelta(days=2)).isoformat(), "adults": 2}
    assert _quoted_suppliers(engine, live, shopper_headers, search) == set(codes)
    _click_and_wait(page, "nav a[href='/console/suppliers']")
    _click_and_wait(page, f"#suppliers a[href='/console/suppliers/{codes[1]}']")
    _click_and_wait(page, "#disable")
    _confirm(page, note="contract paused")
    expect(page.locator("#supplier-enabled")).to_have_text("disabled")
    assert _quoted_suppliers(engine, live, shopper_headers, search) == {codes[0]}

    # Each action in the audit log under the operator's name.
    _click_and_wait(page, "nav a[href='/console/audit']")
    page.locator("#filter-actor").press_sequentially(username)
    _click_and_wait(page, "#filter")
    entries = page.locator("#audit tbody tr")
    expect(entries).to_have_count(3)
    for action, target in (("order.approve", f"order:{order['order_id']}"),
                           ("partner.suspend", f"partner:{partner.partner_id}"),
                           ("supplier.disable", f"supplier:{codes[1]}")):
        row = page.locator(f"#audit tr[data-action='{action}']")
        expect(row).to_contain_text(username)
        expect(row).to_contain_text("console")
        expect(row).to_contain_text(target)


def test_the_console_is_usable_on_a_phone(chromium, live, engine, request):
    operator = new_staff(engine, "operator")
    agency = f"Phone Agency {secrets.token_hex(2)}"
    new_partner(engine, agency)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        sign_in(phone, f"{live}/console/partners?name={agency}", operator.username, operator.password)
        expect(phone.locator("#partners")).to_be_visible()
        # Nothing but the table's own scroll box is wider than the screen.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        _click_and_wait(phone, "#partners tbody tr >> nth=0 >> a")
        expect(phone.locator("#suspend")).to_be_visible()
    except Exception:
        keep_screenshot(phone, request.node.nodeid)
        raise
    finally:
        context.close()
