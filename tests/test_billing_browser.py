"""Finance's billing pages in Debian's Chromium driven by Playwright: sign in, issue a cycle's invoice from its
statement row, record a partial payment on the invoice's page, import a bank file that pays the rest."""

from __future__ import annotations

from playwright.sync_api import expect

from core.billing import statements, store
from tests.api_fixtures import new_staff
from tests.billing_fixtures import far_cycle, new_entity, seed_billing_cycle, set_rate
from tests.browser import needs_chromium, sign_in
from tests.live_server import serve

pytest_plugins = ["tests.browser"]
pytestmark = needs_chromium


def test_finance_issues_and_collects_an_invoice_in_the_browser(engine, settings, migrated, page):
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
        sign_in(page, f"{url}/billing", finance.username, finance.password)
        expect(page.locator("#bank-form")).to_be_visible()

        page.goto(f"{url}/billing?cycle={cycle.key}")
        issue_form = page.locator(".issue-form").filter(has=page.locator(f'input[name=partner_id][value="{other}"]'))
        with page.expect_navigation():
            issue_form.get_by_role("button", name="Issue invoice").click()
        number = f"{entity}-000001"
        # 400 USD at 7 = 2800.00 CNY, 6 % VAT = 168.00
        expect(page.locator("#message")).to_have_text(f"Invoice {number} issued: 2968.00 CNY.")

        page.goto(f"{url}/billing/invoices/{number}")
        payment = page.locator(".payment-form")
        payment.get_by_label("Amount").press_sequentially("968.00")
        payment.get_by_label("Received").fill(cycle.end.isoformat())
        with page.expect_navigation():
            payment.get_by_role("button", name="Record payment").click()
        expect(page.locator("#message")).to_be_visible()
        expect(page.locator("#balance")).to_contain_text("outstanding 2000.00")

        page.goto(f"{url}/billing")
        bank_file = f"booked_on,amount,currency,reference\n{cycle.end},2000.00,CNY,pay {number}\n"
        page.locator("#bank-content").fill(bank_file)
        with page.expect_navigation():
            page.get_by_role("button", name="Import").click()
        expect(page.locator("#message")).to_contain_text("1 lines: 1 matched, 0 for review")
        page.goto(f"{url}/billing/invoices/{number}")
        expect(page.locator("#balance")).to_contain_text("(paid)")
