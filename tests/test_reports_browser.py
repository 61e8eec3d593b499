"""The BI reports in Debian's Chromium driven by Playwright: sign in, charts render with data, tables equal the
warehouse."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect
from warehouse_fixtures import CITIES

from tests.api_fixtures import new_staff
from tests.browser import needs_chromium, sign_in
from tests.live_server import serve
from warehouse.client import warehouse_client

pytest_plugins = ["warehouse_fixtures", "tests.browser"]
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def live_api(settings, migrated, built_warehouse):
    from api.app import create_app

    with serve(create_app(settings, migrated)) as url:
        yield url


def _sign_in(page: Page, api: str, username: str, password: str, target: str) -> str:
    """Sign in through the real login form, which lands on `target`; the DOM the browser ends up with."""
    sign_in(page, f"{api}{target}", username, password)
    expect(page.locator("#report-title")).to_be_visible()
    return page.content()


def _open(page: Page, url: str) -> str:
    page.goto(url)
    expect(page.locator("#report-title")).to_be_visible()
    return page.content()


def _table(dom: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{re.escape(table_id)}"[^>]*>.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert body, f"table {table_id} missing from: {dom[:3000]}"
    return [[html.unescape(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def test_sales_report_renders_warehouse_figures_in_chromium(engine, migrated, seeded_month, live_api, page):
    operator = new_staff(engine, "operator")
    target = "/reports/sales?from=2026-01-01&to=2026-01-30"
    dom = _sign_in(page, live_api, operator.username, operator.password, target)
    assert 'id="report-title"' in dom, dom[:2000]
    gmv = page.evaluate("window.reportCharts['chart-sales-daily-EUR'].data.datasets[0].data")
    assert len(gmv) > 0 and any(value > 0 for value in gmv)

    with warehouse_client(migrated.clickhouse_url) as client:
        expected = client.query(
            "SELECT partner_name, currency, sum(orders), sum(bookings), sum(room_nights), sum(gmv), sum(margin)"
            " FROM hotel_analytics.daily_sales WHERE day BETWEEN '2026-01-01' AND '2026-01-30'"
            " GROUP BY partner_name, currency").result_rows
        daily = client.query("SELECT day, sum(gmv) FROM hotel_analytics.daily_sales WHERE currency = 'EUR'"
                             " AND day BETWEEN '2026-01-01' AND '2026-01-30' GROUP BY day ORDER BY day").result_rows
    shown = {(row[0], row[1]): (int(row[2]), int(row[3]), int(row[4]), Decimal(row[5]), Decimal(row[6]))
             for row in _table(dom, "sales-by-partner")}
    assert shown == {(row[0], row[1]): (row[2], row[3], row[4], row[5], row[6]) for row in expected}
    assert set(seeded_month.partner_names) <= {name for name, _ in shown}
    chart = page.evaluate("(c => ({labels: c.data.labels, gmv: c.data.datasets[0].data}))"
                          "(window.reportCharts['chart-sales-daily-EUR'])")
    assert chart["labels"] == [row[0].isoformat() for row in daily]
    assert [Decimal(str(value)) for value in chart["gmv"]] == [row[1] for row in daily]


def test_filters_and_every_topic_render(engine, seeded_month, live_api, page):
    finance = new_staff(engine, "finance")
    partner = seeded_month.partner_ids[0]
    target = f"/reports/cancellations?from=2026-01-01&to=2026-01-30&partner={partner}&city={CITIES[0]}"
    dom = _sign_in(page, live_api, finance.username, finance.password, target)
    rows = _table(dom, "cancellations-by-partner")
    assert rows and {(row[0], row[1]) for row in rows} == {(seeded_month.partner_names[0], CITIES[0])}
    # The session cookie lets the same browser open each topic without signing in again.
    for topic, table_id in (("conversion", "conversion-daily"), ("suppliers", "suppliers"),
                            ("competitiveness", "competitiveness-wins")):
        dom = _open(page, f"{live_api}/reports/{topic}?from=2026-01-01&to=2026-01-30")
        assert _table(dom, table_id), topic
        assert page.evaluate("Object.keys(window.reportCharts).length") > 0, topic
    page.context.clear_cookies()  # a browser without the session is asked to sign in
    page.goto(f"{live_api}/reports/sales")
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#report-title")).to_have_count(0)
