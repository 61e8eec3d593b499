"""Finance's settlement pages in Debian's Chromium driven by Playwright: sign in, upload a statement, open a
cycle, resolve a discrepancy with a note, approve the cycle, open the printable report."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.settlement import review
from tests.api_fixtures import new_staff
from tests.browser import needs_chromium, sign_in
from tests.live_server import serve
from tests.settlement_fixtures import STANDARD_ORDERS, STANDARD_PARTNERS, past_cycle, seed_cycle, standard_statement

pytest_plugins = ["tests.browser"]
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def live_api(settings, migrated):
    from api.app import create_app

    with serve(create_app(settings, migrated)) as url:
        yield url


def test_finance_resolves_and_approves_through_the_page(engine, settings, live_api, page):
    seeded = seed_cycle(engine, past_cycle(5), STANDARD_ORDERS, STANDARD_PARTNERS)
    finance = new_staff(engine, "finance")

    # Not signed in: the sign-in form; a wrong password is refused on the page.
    sign_in(page, f"{live_api}/settlements", finance.username, "wrong password")
    expect(page.locator("#login-error")).to_contain_text("do not match")

    sign_in(page, f"{live_api}/settlements", finance.username, finance.password)
    expect(page.locator("#upload-form")).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text(f"Test Finance {finance.username[-4:]}")

    # Upload the supplier's statement through the page: a bad one is refused with its line, then the right one.
    def upload(content: str, as_file: bool = False) -> None:
        page.locator("#upload-supplier").press_sequentially(seeded.supplier)
        page.locator("#upload-period").fill(seeded.cycle.key)
        if as_file:  # the file picker fills the text field (api/static/file-field.js)
            page.locator("#upload-file").set_input_files(
                files=[{"name": "week.csv", "mimeType": "text/csv", "buffer": content.encode()}])
            expect(page.locator("#upload-content")).to_have_value(content)
        else:
            page.locator("#upload-content").fill(content)
        with page.expect_navigation():
            page.get_by_role("button", name="Upload and reconcile").click()

    upload(standard_statement(seeded).replace(",charged,85.00,", ",charged,85,00,"))
    expect(page.locator("#upload-error")).to_contain_text("line 4")
    upload(standard_statement(seeded), as_file=True)
    expect(page.locator("#message")).to_contain_text("4 discrepancies")
    cycle_id = review.list_cycles(engine, supplier_code=seeded.supplier)[0]["id"]

    page.goto(f"{live_api}/settlements")
    row = page.locator(f'tr[data-cycle-id="{cycle_id}"]')
    for text in (seeded.supplier, "reconciled", "445.00 USD"):
        expect(row).to_contain_text(text)
    with page.expect_navigation():
        row.get_by_role("link", name="Review").click()
    expect(page.locator("#open-count")).to_have_text("4")
    expect(page.locator("#journal")).to_contain_text("527.24")

    # Filter to one class, then resolve that discrepancy with a note.
    page.locator("#filter-class").select_option("missing_in_platform")
    with page.expect_navigation():
        page.locator("#filter").click()
    rows = page.locator("#discrepancies tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-ref", "STRAY-1")
    rows.first.get_by_label("resolution note").press_sequentially("booked by phone; order added next cycle")
    with page.expect_navigation():
        rows.first.get_by_role("button", name="Resolve").click()
    expect(page.locator("#message")).to_contain_text("resolved")
    expect(page.locator("#open-count")).to_have_text("3")
    stray = next(d for d in review.list_discrepancies(engine, cycle_id) if d["supplier_ref"] == "STRAY-1")
    assert stray["status"] == "resolved" and stray["resolved_by"] == finance.username
    assert stray["resolution_note"] == "booked by phone; order added next cycle"

    expect(page.locator("#approve-warning")).to_contain_text("3 discrepancies are still open")
    with page.expect_navigation():
        page.get_by_role("button", name="Approve this cycle").click()
    expect(page.locator("#cycle-status")).to_have_text("approved")
    expect(page.locator("#message")).to_have_text(
        "Cycle approved with 3 discrepancies open; they stay as they are in this revision.")
    expect(page.locator("#approve")).to_have_count(0)
    cycle = review.get_cycle(engine, cycle_id)
    assert cycle["status"] == "approved" and cycle["approved_by"] == finance.username

    # The printable report of the approved cycle opens from the same session.
    page.goto(f"{live_api}/settlements/cycles/{cycle_id}/report")
    body = page.locator("body")
    for text in ("approved", "STRAY-1", "445.00"):
        expect(body).to_contain_text(text)
