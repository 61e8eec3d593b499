"""An operator made with `hotelctl staff create` signs in on the console in Debian's Chromium (Playwright),
changes a pricing rule on its page and finds that action, under their name, in the audit log; the audit page
stays readable on a phone."""

from __future__ import annotations

import secrets

from playwright.sync_api import expect
from typer.testing import CliRunner

from tests.browser import needs_chromium, sign_in
from tests.live_server import serve

pytest_plugins = ["tests.browser"]
pytestmark = needs_chromium


def test_operator_from_hotelctl_sees_their_action_in_the_audit_log(settings, migrated, monkeypatch, page):
    from api.app import create_app
    from cli.main import app

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HOTEL_DATA_DIR", str(settings.data_dir))
    username, password = f"olga-{secrets.token_hex(3)}", "a long operator passphrase"
    created = CliRunner().invoke(app, ["staff", "create", username, "--role", "operator", "--name", "Olga Ivanova",
                                       "--password-stdin"], input=password + "\n")
    assert created.exit_code == 0, created.output
    tier = f"t-{secrets.token_hex(3)}"

    with serve(create_app(settings, migrated)) as url:
        sign_in(page, f"{url}/console", username, password)
        expect(page.locator("#signed-in-as")).to_have_text("Olga Ivanova")
        expect(page.get_by_role("heading", name="Operator console")).to_be_visible()

        with page.expect_navigation():
            page.get_by_role("navigation").get_by_role("link", name="Pricing", exact=True).click()
        form = page.locator("#add-rule")
        form.locator("select[name=level]").select_option("partner")
        form.locator("input[name=partner_tier]").press_sequentially(tier)
        form.locator("input[name=markup_pct]").press_sequentially("4.5")
        with page.expect_navigation():
            form.get_by_role("button", name="Add rule").click()
        expect(page.locator("#rules")).to_contain_text(f"partner_tier={tier}")

        with page.expect_navigation():
            page.get_by_role("navigation").get_by_role("link", name="Audit log").click()
        page.locator("#filter-actor").press_sequentially(username)
        page.locator("#filter-action").press_sequentially("pricing_rule.")
        with page.expect_navigation():
            page.get_by_role("button", name="Filter").click()
        rows = page.locator("#audit tbody tr")
        expect(rows).to_have_count(1)
        for text in (username, "(operator)", "console", "pricing_rule.create", tier, "4.5"):
            expect(rows.first).to_contain_text(text)

        # On a phone the page itself does not scroll sideways: the wide table scrolls inside its box.
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        expect(page.get_by_role("button", name="Filter")).to_be_visible()
