"""Finance's settlement pages in a real headless Chromium, driven over the DevTools protocol:
sign in, open a cycle, resolve a discrepancy with a note, approve the cycle."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from core.settlement import review
from tests.api_fixtures import new_staff
from tests.browser import needs_chromium
from tests.live_server import serve
from tests.settlement_fixtures import STANDARD_ORDERS, STANDARD_PARTNERS, past_cycle, seed_cycle, standard_statement

pytest_plugins = ["tests.browser"]
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def live_api(settings, migrated):
    from api.app import create_app

    with serve(create_app(settings, migrated)) as url:
        yield url


def test_finance_resolves_and_approves_through_the_page(engine, settings, live_api, browser):
    seeded = seed_cycle(engine, past_cycle(5), STANDARD_ORDERS, STANDARD_PARTNERS)
    finance = new_staff(engine, "finance")

    # Not signed in: the login form; a wrong secret is refused on the page.
    browser.goto(f"{live_api}/settlements", "document.querySelector('#login-form')")
    browser.fill("#username", finance.username)
    browser.fill("#password", "wrong")
    browser.js("document.querySelector('#sign-in').click()")
    browser.wait_for("document.querySelector('#login-error')")
    assert "do not match" in browser.js("document.querySelector('#login-error').innerText")

    browser.fill("#username", finance.username)
    browser.fill("#password", finance.password)
    browser.js("document.querySelector('#sign-in').click()")
    browser.wait_for("document.querySelector('#upload-form')")

    # Upload the supplier's statement through the page: a bad one is refused with its line, then the right one.
    browser.fill("#upload-supplier", seeded.supplier)
    browser.fill("#upload-period", seeded.cycle.key)
    browser.fill("#upload-content", standard_statement(seeded).replace(",charged,85.00,", ",charged,85,00,"))
    browser.js("document.querySelector('#upload').click()")
    browser.wait_for("document.querySelector('#upload-error')")
    assert "line 4" in browser.js("document.querySelector('#upload-error').innerText")
    browser.fill("#upload-supplier", seeded.supplier)
    browser.fill("#upload-period", seeded.cycle.key)
    browser.fill("#upload-content", standard_statement(seeded))
    browser.js("document.querySelector('#upload').click()")
    browser.wait_for("document.querySelector('#discrepancies')")
    assert "4 discrepancies" in browser.js("document.querySelector('#message').innerText")
    cycle_id = review.list_cycles(engine, supplier_code=seeded.supplier)[0]["id"]

    browser.goto(f"{live_api}/settlements", f"document.querySelector('tr[data-cycle-id=\"{cycle_id}\"]')")
    row_text = browser.js(f"document.querySelector('tr[data-cycle-id=\"{cycle_id}\"]').innerText")
    assert seeded.supplier in row_text and "reconciled" in row_text and "445.00 USD" in row_text

    browser.js(f"document.querySelector('tr[data-cycle-id=\"{cycle_id}\"] a').click()")
    browser.wait_for("document.querySelector('#discrepancies')")
    assert browser.js("document.querySelector('#open-count').innerText") == "4"
    assert "527.24" in browser.js("document.querySelector('#journal').innerText")

    # Filter to one class, then resolve that discrepancy with a note.
    browser.js("document.querySelector('#filter-class').value = 'missing_in_platform';"
               "document.querySelector('#filter').click()")
    browser.wait_for("document.querySelectorAll('#discrepancies tbody tr').length === 1")
    assert browser.js("document.querySelector('#discrepancies tbody tr').dataset.ref") == "STRAY-1"
    browser.js("const f = document.querySelector('#discrepancies tbody tr .resolve-form');"
               "f.querySelector('input[name=note]').value = 'booked by phone; order added next cycle';"
               "f.querySelector('button').click()")
    browser.wait_for("document.querySelector('#message')")
    assert "resolved" in browser.js("document.querySelector('#message').innerText")
    assert browser.js("document.querySelector('#open-count').innerText") == "3"
    stray = next(d for d in review.list_discrepancies(engine, cycle_id) if d["supplier_ref"] == "STRAY-1")
    assert stray["status"] == "resolved" and stray["resolved_by"] == finance.username
    assert stray["resolution_note"] == "booked by phone; order added next cycle"

    browser.js("document.querySelector('#approve').click()")
    browser.wait_for("document.querySelector('#cycle-status').innerText === 'approved'")
    assert "Cycle approved" in browser.js("document.querySelector('#message').innerText")
    assert not browser.js("!!document.querySelector('#approve')")
    cycle = review.get_cycle(engine, cycle_id)
    assert cycle["status"] == "approved" and cycle["approved_by"] == finance.username

    # The printable report of the approved cycle opens from the same session.
    browser.goto(f"{live_api}/settlements/cycles/{cycle_id}/report", "document.querySelector('h1')")
    text = browser.js("document.body.innerText")
    assert "approved" in text and "STRAY-1" in text and "445.00" in text


def test_pages_refuse_other_roles_and_forged_forms(api_client, engine):
    operator = new_staff(engine, "operator")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = api_client.post("/settlements/login", content=urlencode({"username": operator.username,
                                                                       "password": operator.password}),
                              headers=form, follow_redirects=False)
    assert refused.status_code == 403 and "finance role only" in refused.text
    assert "staff_session" not in refused.headers.get("set-cookie", "")
    finance = new_staff(engine, "finance")
    signed = api_client.post("/settlements/login", content=urlencode({"username": finance.username,
                                                                      "password": finance.password}),
                             headers=form, follow_redirects=False)
    assert signed.status_code == 303 and "HttpOnly" in signed.headers["set-cookie"]
    forged = api_client.post("/settlements/cycles/1/approve", content="csrf=guess", headers=form,
                             follow_redirects=False)
    assert forged.status_code == 403
    api_client.cookies.clear()
    anonymous = api_client.post("/settlements/cycles/1/approve", content="csrf=guess", follow_redirects=False)
    assert anonymous.status_code == 401
