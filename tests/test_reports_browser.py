"""The BI reports in a real headless Chromium: sign in, charts render with data, tables equal the warehouse."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from warehouse_fixtures import CITIES

from core.partners import create_partner, create_staff_credentials
from tests.browser import Page, needs_chromium
from tests.live_server import serve
from warehouse.client import warehouse_client

pytest_plugins = ["warehouse_fixtures", "tests.browser"]
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def live_api(settings, migrated, built_warehouse):
    from api.app import create_app

    with serve(create_app(settings, migrated)) as url:
        yield url


def _sign_in(browser: Page, api: str, client_id: str, secret: str, target: str) -> str:
    """Sign in through the real login form, which lands on `target`; the DOM the browser ends up with."""
    browser.goto(f"{api}{target}", "document.querySelector('#login-form')")
    browser.fill("#client_id", client_id)
    browser.fill("#client_secret", secret)
    browser.js("document.querySelector('#sign-in').click()")
    browser.wait_for("document.querySelector('#report-title')")
    return browser.html()


def _open(browser: Page, url: str) -> str:
    browser.goto(url, "document.querySelector('#report-title')")
    return browser.html()


def _table(dom: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{re.escape(table_id)}"[^>]*>.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert body, f"table {table_id} missing from: {dom[:3000]}"
    return [[html.unescape(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def test_sales_report_renders_warehouse_figures_in_chromium(engine, migrated, seeded_month, live_api, browser):
    operator = create_staff_credentials(engine, "operator")
    target = "/reports/sales?from=2026-01-01&to=2026-01-30"
    dom = _sign_in(browser, live_api, operator.client_id, operator.client_secret, target)
    assert 'id="report-title"' in dom, dom[:2000]
    gmv = browser.js("window.reportCharts['chart-sales-daily-EUR'].data.datasets[0].data")
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
    chart = browser.js("(c => ({labels: c.data.labels, gmv: c.data.datasets[0].data}))"
                       "(window.reportCharts['chart-sales-daily-EUR'])")
    assert chart["labels"] == [row[0].isoformat() for row in daily]
    assert [Decimal(str(value)) for value in chart["gmv"]] == [row[1] for row in daily]


def test_filters_and_every_topic_render(engine, seeded_month, live_api, browser):
    finance = create_staff_credentials(engine, "finance")
    partner = seeded_month.partner_ids[0]
    target = f"/reports/cancellations?from=2026-01-01&to=2026-01-30&partner={partner}&city={CITIES[0]}"
    dom = _sign_in(browser, live_api, finance.client_id, finance.client_secret, target)
    rows = _table(dom, "cancellations-by-partner")
    assert rows and {(row[0], row[1]) for row in rows} == {(seeded_month.partner_names[0], CITIES[0])}
    # The session cookie lets the same browser open each topic without signing in again.
    for topic, table_id in (("conversion", "conversion-daily"), ("suppliers", "suppliers"),
                            ("competitiveness", "competitiveness-wins")):
        page = _open(browser, f"{live_api}/reports/{topic}?from=2026-01-01&to=2026-01-30")
        assert _table(page, table_id), topic
        assert browser.js("Object.keys(window.reportCharts).length") > 0, topic
    browser.send("Network.clearBrowserCookies")  # a browser without the session is asked to sign in
    browser.goto(f"{live_api}/reports/sales", "document.querySelector('#login-form')")
    assert not browser.js("!!document.querySelector('#report-title')")


def test_partners_cannot_open_reports_and_bad_filters_are_named(engine, api_client):
    partner = create_partner(engine, "WH Reports Outsider")
    login = api_client.post("/reports/login", data={"client_id": partner.client_id,
                                                    "client_secret": partner.client_secret},
                            follow_redirects=False)
    assert login.status_code == 403 and "operator and finance" in login.text
    operator = create_staff_credentials(engine, "operator")
    signed = api_client.post("/reports/login", data={"client_id": operator.client_id,
                                                     "client_secret": operator.client_secret, "next": "/reports"},
                             follow_redirects=False)
    assert signed.status_code == 303 and "reports_session" in signed.headers["set-cookie"]
    bad = api_client.get("/reports/sales?from=2026-13-01", cookies=signed.cookies)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "from"
    assert "2026-13-01" in bad.json()["error"]["message"]
    missing = api_client.get("/reports/nope", cookies=signed.cookies)
    assert missing.status_code == 404
