"""The report pages as an analyst uses them, in Playwright on Debian's Chromium: the charts plot exactly the
warehouse's rows (read from Chart.js in the page), rates are lines in percent on their own axis, mixes are stacked
bars, a value shows on hover; a click sorts a table; the CSV download holds the table's rows."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from tests.api_fixtures import new_staff
from tests.browser import needs_chromium, sign_in
from tests.live_server import serve
from warehouse.client import warehouse_client

pytest_plugins = ["warehouse_fixtures", "tests.browser"]
pytestmark = needs_chromium
RANGE = "from=2026-01-01&to=2026-01-30"
WHERE = "day BETWEEN '2026-01-01' AND '2026-01-30'"


@pytest.fixture(scope="module")
def live_api(settings, migrated, built_warehouse):
    from api.app import create_app

    with serve(create_app(settings, migrated)) as url:
        yield url


@pytest.fixture
def page(page, live_api, engine):
    """The shared Playwright page (tests.browser), signed in as an operator on the conversion report."""
    operator = new_staff(engine, "operator")
    sign_in(page, f"{live_api}/reports/conversion?{RANGE}", operator.username, operator.password)
    page.wait_for_selector("#report-title")
    return page


def _query(migrated, sql: str) -> list[tuple]:
    with warehouse_client(migrated.clickhouse_url) as client:
        return client.query(sql).result_rows


def _chart(page, canvas: str) -> dict:
    return page.evaluate("""id => {
        const chart = window.reportCharts[id];
        return {type: chart.config.type, labels: chart.data.labels, stacked: !!chart.options.scales.x.stacked,
                axes: Object.keys(chart.options.scales), legend: chart.legend.legendItems.map(item => item.text),
                datasets: chart.data.datasets.map((set, index) => ({
                    label: set.label, type: set.type, axis: set.yAxisID, data: set.data,
                    plotted: chart.getDatasetMeta(index).data.filter(point => !point.skip).length}))};
    }""", canvas)


def test_conversion_chart_plots_the_warehouse_rows_with_the_rate_as_a_percent_line(page, migrated):
    rows = _query(migrated, f"SELECT day, sum(quotes), round(if(sum(quotes) = 0, 0, sum(quotes_ordered) / sum(quotes)),"
                            f" 4) FROM hotel_analytics.quote_conversion WHERE {WHERE} GROUP BY day ORDER BY day")
    chart = _chart(page, "chart-conversion-daily")
    assert len(rows) == 30
    assert chart["labels"] == [row[0].isoformat() for row in rows]
    quotes, rate = chart["datasets"]
    assert quotes["type"] == "bar" and quotes["data"] == [row[1] for row in rows] and quotes["plotted"] == 30
    assert rate["type"] == "line" and rate["axis"] == "percent" and "percent" in chart["axes"]
    assert rate["data"] == [round(float(row[2]) * 100, 2) for row in rows] and rate["plotted"] == 30
    assert sorted(chart["legend"]) == ["conversion (%)", "quotes"]

    # A value on hover: the pointer over the tenth day's point shows that day's figures.
    box = page.locator("#chart-conversion-daily").bounding_box()
    point = page.evaluate("() => { const p = window.reportCharts['chart-conversion-daily'].getDatasetMeta(1)"
                          ".data[9]; return {x: p.x, y: p.y}; }")
    page.mouse.move(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_function("window.reportCharts['chart-conversion-daily'].tooltip.opacity > 0")
    shown = page.evaluate("() => window.reportCharts['chart-conversion-daily'].tooltip.body"
                          ".map(part => part.lines.join(' '))")
    assert sorted(shown) == sorted([f"quotes: {rows[9][1]:,}", f"conversion: {float(rows[9][2]) * 100:g} %"])


def test_sales_shows_a_money_line_and_a_stacked_supplier_mix(page, live_api, migrated):
    page.goto(f"{live_api}/reports/sales?{RANGE}")
    page.wait_for_selector("#report-title")
    gmv = _query(migrated, f"SELECT day, sum(gmv), sum(margin) FROM hotel_analytics.daily_sales WHERE {WHERE}"
                           f" AND currency = 'EUR' GROUP BY day ORDER BY day")
    line = _chart(page, "chart-sales-daily-EUR")
    assert line["type"] == "line" and line["labels"] == [row[0].isoformat() for row in gmv]
    assert [Decimal(str(value)) for value in line["datasets"][0]["data"]] == [row[1] for row in gmv]
    assert [Decimal(str(value)) for value in line["datasets"][1]["data"]] == [row[2] for row in gmv]

    mix = _chart(page, "chart-sales-mix-supplier")
    bookings = _query(migrated, f"SELECT day, supplier_code, sum(bookings) FROM hotel_analytics.daily_sales"
                                f" WHERE {WHERE} GROUP BY day, supplier_code")
    assert mix["type"] == "bar" and mix["stacked"]
    assert {set_["label"] for set_ in mix["datasets"]} == {row[1] for row in bookings}
    expected = {(row[0].isoformat(), row[1]): row[2] for row in bookings}
    plotted = {(day, set_["label"]): value for set_ in mix["datasets"]
               for day, value in zip(mix["labels"], set_["data"], strict=True) if value}
    assert plotted == {key: value for key, value in expected.items() if value}


def test_a_click_sorts_a_table_and_the_csv_download_holds_its_rows(page, migrated, tmp_path):
    table = "#conversion-daily"

    def column(index: int) -> list[str]:
        return page.eval_on_selector_all(f"{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].innerText)")

    page.click(f"{table} thead th:text-is('quotes')")
    ascending = [int(value) for value in column(1)]
    assert ascending == sorted(ascending) and len(ascending) == 30
    page.click(f"{table} thead th:text-is('quotes')")
    assert [int(value) for value in column(1)] == sorted(ascending, reverse=True)
    page.click(f"{table} thead th:text-is('day')")
    assert column(0) == sorted(column(0))

    with page.expect_download() as info:
        page.click("#export-conversion-daily")
    download = info.value
    assert download.suggested_filename == "conversion-daily-2026-01-01-2026-01-30.csv"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["day", "quotes", "offers shown", "quotes ordered", "conversion"]
    expected = _query(migrated, f"SELECT day, sum(quotes), sum(offers_shown), sum(quotes_ordered), round(if(sum(quotes)"
                                f" = 0, 0, sum(quotes_ordered) / sum(quotes)), 4) FROM hotel_analytics.quote_conversion"
                                f" WHERE {WHERE} GROUP BY day ORDER BY day")
    assert [[row[0], int(row[1]), int(row[2]), int(row[3]), Decimal(row[4])] for row in rows[1:]] == [
        [row[0].isoformat(), row[1], row[2], row[3], Decimal(str(row[4]))] for row in expected]
