"""Finance's billing pages in a real headless Chromium: sign in, issue a cycle's invoice from its statement row,
record a partial payment on the invoice's page, import a bank file that pays the rest."""

from __future__ import annotations

from core.billing import statements, store
from tests.api_fixtures import new_staff
from tests.billing_fixtures import far_cycle, new_entity, seed_billing_cycle, set_rate
from tests.browser import needs_chromium
from tests.live_server import serve

pytest_plugins = ["tests.browser"]
pytestmark = needs_chromium


def test_finance_issues_and_collects_an_invoice_in_the_browser(engine, settings, migrated, browser):
    from api.app import create_app

    cycle = far_cycle(13)
    seeded = seed_billing_cycle(engine, cycle)
    other = seeded.partners["Other"]
    set_rate(engine, "USD", "CNY", "7", cycle.start)
    entity = new_entity(engine)
    store.set_profile(engine, other, settings, entity=entity)
    statements.write_statements(engine, cycle, settings)
    finance = new_staff(engine, "finance")
    with serve(create_app(settings, migrated)) as url:
        browser.goto(f"{url}/billing", "document.querySelector('#login-form')")
        browser.fill("#username", finance.username)
        browser.fill("#password", finance.password)
        browser.js("document.querySelector('#sign-in').click()")
        browser.wait_for("document.querySelector('#bank-form')")

        browser.goto(f"{url}/billing?cycle={cycle.key}", "document.querySelector('#statements')")
        issue = f"document.querySelector('#statements input[name=partner_id][value=\"{other}\"]').closest('form')"
        browser.js(f"{issue}.querySelector('button').click()")
        browser.wait_for("document.querySelector('#message')")
        number = f"{entity}-000001"
        # 400 USD at 7 = 2800.00 CNY, 6 % VAT = 168.00
        assert browser.js("document.querySelector('#message').innerText") == f"Invoice {number} issued: 2968.00 CNY."

        browser.goto(f"{url}/billing/invoices/{number}", "document.querySelector('#balance')")
        form = "document.querySelector('.payment-form')"
        browser.js(f"{form}.querySelector('[name=amount]').value = '968.00'")
        browser.js(f"{form}.querySelector('[name=received_on]').value = '{cycle.end}'")
        browser.js(f"{form}.querySelector('button').click()")
        browser.wait_for("document.querySelector('#message') && document.querySelector('#balance')")
        assert "outstanding 2000.00" in browser.js("document.querySelector('#balance').innerText")

        browser.goto(f"{url}/billing", "document.querySelector('#bank-form')")
        browser.fill("#bank-content", f"booked_on,amount,currency,reference\n{cycle.end},2000.00,CNY,pay {number}\n")
        browser.js("document.querySelector('#bank-import').click()")
        browser.wait_for("document.querySelector('#message')")
        assert "1 lines: 1 matched, 0 for review" in browser.js("document.querySelector('#message').innerText")
        browser.goto(f"{url}/billing/invoices/{number}", "document.querySelector('#balance')")
        assert "(paid)" in browser.js("document.querySelector('#balance').innerText")
