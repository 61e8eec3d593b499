"""BI report data from the rollup tables, and what each report charts.

Each topic is a list of sections: a title, an optional chart, a table. Money stays Decimal with its
currency in the tables (and their CSV); a chart carries the same values as numbers for the page to draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from warehouse.client import DATABASE

TOPICS = {
    "sales": "Sales: GMV, bookings, room-nights, margin",
    "conversion": "Quote-to-order conversion",
    "cancellations": "Cancellations",
    "suppliers": "Supplier performance",
    "competitiveness": "Price competitiveness",
    "receivables": "Receivables and days sales outstanding",
}
DSO_WINDOW_DAYS = 90


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # included
    partner: str | None = None
    city: str | None = None

    def where(self, partner: bool = True, city: bool = True) -> tuple[str, dict]:
        clauses = ["day >= %(start)s", "day <= %(end)s"]
        params: dict = {"start": self.start, "end": self.end}
        if partner and self.partner:
            clauses.append("partner_id = %(partner)s")
            params["partner"] = self.partner
        if city and self.city:
            clauses.append("city = %(city)s")
            params["city"] = self.city
        return " AND ".join(clauses), params


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list]
    chart: Chart | None = None
    note: str = ""
    table_id: str = ""


@dataclass
class Report:
    topic: str
    title: str
    sections: list[Section] = field(default_factory=list)
    partners: list[tuple[str, str]] = field(default_factory=list)
    cities: list[str] = field(default_factory=list)


def _rows(client: Client, sql: str, params: dict) -> list[list]:
    return [list(row) for row in client.query(sql, parameters=params).result_rows]


@dataclass(frozen=True)
class Series:
    label: str
    values: list
    kind: str = ""  # "line" or "bar" within a chart of the other kind; "" takes the chart's
    percent: bool = False  # a rate, drawn in percent on the right-hand axis


@dataclass(frozen=True)
class Chart:
    """What the page draws (Chart.js, served by the platform): a line chart for a time series, bars for a mix
    (stacked when `stacked`), rates as lines in percent; the values are the table's, as numbers."""

    kind: str  # "line" or "bar"
    title: str
    labels: list[str]
    series: list[Series]
    stacked: bool = False
    unit: str = ""  # of the left-hand axis (a currency, or empty for counts)

    def spec(self) -> dict:
        return {"kind": self.kind, "title": self.title, "labels": self.labels, "stacked": self.stacked,
                "unit": self.unit, "series": [
                    {"label": series.label, "kind": series.kind or self.kind, "percent": series.percent,
                     "values": [_number(value, series.percent) for value in series.values]}
                    for series in self.series]}


def _number(value, percent: bool) -> float | None:
    if value is None:
        return None
    # Geometry only: the table and the CSV keep the exact Decimal.
    return round(float(value) * 100, 2) if percent else float(value)


def line_chart(title: str, labels: list[str], series: list[Series], unit: str = "") -> Chart:
    return Chart("line", title, labels, series, unit=unit)


def bar_chart(title: str, labels: list[str], series: list[Series], unit: str = "", stacked: bool = False) -> Chart:
    return Chart("bar", title, labels, series, stacked=stacked, unit=unit)


def pivot(rows: list[list], days: list[str]) -> list[Series]:
    """Rows of (day, name, value) as one series per name over `days` (a missing day counts 0)."""
    by_name: dict[str, dict[str, object]] = {}
    for day, name, value in rows:
        by_name.setdefault(name, {})[str(day)] = value
    return [Series(name, [values.get(day, 0) for day in days]) for name, values in sorted(by_name.items())]


def _options(client: Client, filters: Filters) -> tuple[list[tuple[str, str]], list[str]]:
    partners = _rows(client, f"SELECT partner_id, any(partner_name) FROM {DATABASE}.daily_sales "
                             "GROUP BY partner_id ORDER BY 2", {})
    cities = [row[0] for row in _rows(client, f"SELECT DISTINCT city FROM {DATABASE}.daily_sales "
                                              "WHERE city != '' ORDER BY city", {})]
    return [(row[0], row[1]) for row in partners], cities


# The margin again in the platform's currency (DEFAULT_CURRENCY), at each order's own rates: beside the
# sell-currency margin, which sums only within one sell currency.
PLATFORM = ["margin (platform currency)", "platform currency"]


def _sales(client: Client, filters: Filters) -> list[Section]:
    where, params = filters.where()
    table = f"{DATABASE}.daily_sales"
    platform = "sum(margin_platform), anyIf(platform_currency, platform_currency != '')"
    daily = _rows(client, f"SELECT day, currency, sum(gmv), sum(bookings), sum(room_nights), sum(margin), {platform} "
                          f"FROM {table} WHERE {where} GROUP BY day, currency ORDER BY currency, day", params)
    sections = []
    for currency in sorted({row[1] for row in daily}):
        mine = [row for row in daily if row[1] == currency]
        sections.append(Section(
            f"GMV per day ({currency})", ["day", "currency", "GMV", "bookings", "room-nights", "margin", *PLATFORM],
            [[str(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7]] for row in mine],
            chart=line_chart(f"GMV and margin per day ({currency})", [str(row[0]) for row in mine],
                             [Series("GMV", [row[2] for row in mine]), Series("margin", [row[5] for row in mine])],
                             currency),
            table_id=f"sales-daily-{currency}",
        ))
    if daily:
        sections.append(_bookings_mix(client, table, where, params))
    for dimension, label in (("partner_name", "partner"), ("city", "city"), ("supplier_code", "supplier")):
        rows = _rows(client, f"SELECT {dimension}, currency, sum(orders), sum(bookings), sum(room_nights), sum(gmv), "
                             f"sum(margin), {platform} FROM {table} WHERE {where} GROUP BY {dimension}, currency "
                             f"ORDER BY sum(gmv) DESC, {dimension}", params)
        sections.append(Section(
            f"By {label}", [label, "currency", "orders", "bookings", "room-nights", "GMV", "margin", *PLATFORM], rows,
            chart=bar_chart(f"Bookings by {label}", [f"{row[0]} ({row[1]})" for row in rows],
                            [Series("bookings", [row[3] for row in rows])]),
            table_id=f"sales-by-{label}",
        ))
    if not daily:
        sections.insert(0, Section("GMV per day", ["day"], [], chart=line_chart("GMV per day", [], []),
                                   table_id="sales-daily"))
    sections.append(_margins(client, filters))
    return sections


def _margins(client: Client, filters: Filters) -> Section:
    """Each day's margin per supplier (net) currency, in that currency and in the platform's, at the orders' own
    rates (the daily_margins rollup)."""
    title, columns = "Margin per day by supplier currency", ["day", "supplier currency", "bookings",
                                                               "margin (supplier currency)", *PLATFORM]
    if not client.query(f"EXISTS TABLE {DATABASE}.daily_margins").result_rows[0][0]:
        return Section(title, columns, [], table_id="sales-margin-by-supplier-currency",
                       note="Not built yet: run `hotelctl backfill warehouse_rollups ...`.")
    where, params = filters.where()
    rows = _rows(client, f"SELECT day, supplier_currency, platform_currency, sum(bookings), sum(margin_supplier), "
                         f"sum(margin_platform) FROM {DATABASE}.daily_margins WHERE {where} "
                         f"GROUP BY day, supplier_currency, platform_currency "
                         f"ORDER BY day, supplier_currency, platform_currency", params)
    return Section(
        title, columns,
        [[str(day), supplier, bookings, margin, margin_platform if platform else "", platform]
         for day, supplier, platform, bookings, margin, margin_platform in rows],
        table_id="sales-margin-by-supplier-currency",
        note="Confirmed orders, each at its own rates. An order made before orders kept their rate set has no "
             "platform currency and no platform-currency margin.")


def _bookings_mix(client: Client, table: str, where: str, params: dict) -> Section:
    """Bookings per day split by supplier: the mix as stacked bars, the table one column per supplier."""
    rows = _rows(client, f"SELECT day, supplier_code, sum(bookings) FROM {table} WHERE {where} "
                         f"GROUP BY day, supplier_code ORDER BY day, supplier_code", params)
    days = sorted({str(row[0]) for row in rows})
    series = pivot(rows, days)
    return Section("Bookings per day by supplier", ["day", *(item.label for item in series)],
                   [[day, *(item.values[index] for item in series)] for index, day in enumerate(days)],
                   chart=bar_chart("Bookings per day by supplier", days, series, stacked=True),
                   table_id="sales-mix-supplier")


def _conversion(client: Client, filters: Filters) -> list[Section]:
    where, params = filters.where()
    table = f"{DATABASE}.quote_conversion"
    daily = _rows(client, f"SELECT day, sum(quotes), sum(offers_shown), sum(quotes_ordered), "
                          f"round(if(sum(quotes) = 0, 0, sum(quotes_ordered) / sum(quotes)), 4) "
                          f"FROM {table} WHERE {where} GROUP BY day ORDER BY day", params)
    by_partner = _rows(client, f"SELECT partner_name, city, sum(quotes), sum(offers_shown), sum(quotes_ordered), "
                               f"round(if(sum(quotes) = 0, 0, sum(quotes_ordered) / sum(quotes)), 4) FROM {table} "
                               f"WHERE {where} GROUP BY partner_name, city ORDER BY partner_name, city", params)
    return [
        Section("Quotes per day and conversion", ["day", "quotes", "offers shown", "quotes ordered", "conversion"],
                [[str(row[0]), *row[1:]] for row in daily],
                chart=bar_chart("Quotes and conversion per day", [str(row[0]) for row in daily],
                                [Series("quotes", [row[1] for row in daily]),
                                 Series("conversion", [row[4] for row in daily], kind="line", percent=True)]),
                table_id="conversion-daily"),
        Section("By partner and city", ["partner", "city", "quotes", "offers shown", "quotes ordered", "conversion"],
                by_partner, table_id="conversion-by-partner"),
    ]


def _cancellations(client: Client, filters: Filters) -> list[Section]:
    where, params = filters.where()
    table = f"{DATABASE}.cancellation_rate"
    daily = _rows(client, f"SELECT day, sum(orders), sum(cancelled), "
                          f"round(if(sum(orders) = 0, 0, sum(cancelled) / sum(orders)), 4) FROM {table} "
                          f"WHERE {where} GROUP BY day ORDER BY day", params)
    by_partner = _rows(client, f"SELECT partner_name, city, sum(orders), sum(cancelled), "
                               f"round(if(sum(orders) = 0, 0, sum(cancelled) / sum(orders)), 4) FROM {table} "
                               f"WHERE {where} GROUP BY partner_name, city ORDER BY partner_name, city", params)
    return [
        Section("Cancellation rate per day (orders created that day)", ["day", "orders", "cancelled", "rate"],
                [[str(row[0]), *row[1:]] for row in daily],
                chart=bar_chart("Cancellations and cancellation rate per day", [str(row[0]) for row in daily],
                                [Series("cancelled", [row[2] for row in daily]),
                                 Series("cancellation rate", [row[3] for row in daily], kind="line", percent=True)]),
                table_id="cancellations-daily"),
        Section("By partner and city", ["partner", "city", "orders", "cancelled", "rate"], by_partner,
                table_id="cancellations-by-partner"),
    ]


def _suppliers(client: Client, filters: Filters) -> list[Section]:
    where, params = filters.where(partner=False, city=False)
    rows = _rows(client, f"SELECT supplier_code, sum(calls), sum(errors), "
                         f"round(if(sum(calls) = 0, 0, sum(errors) / sum(calls)), 4), max(latency_p50_ms), "
                         f"max(latency_p95_ms), max(latency_p99_ms), sum(orders), sum(confirmed), sum(failed), "
                         f"round(if(sum(confirmed) + sum(failed) = 0, 0, sum(confirmed) / (sum(confirmed) + "
                         f"sum(failed))), 4) FROM {DATABASE}.supplier_performance WHERE {where} "
                         f"GROUP BY supplier_code ORDER BY supplier_code", params)
    daily = _rows(client, f"SELECT day, supplier_code, round(if(sum(calls) = 0, 0, sum(errors) / sum(calls)), 4) "
                          f"FROM {DATABASE}.supplier_performance WHERE {where} GROUP BY day, supplier_code "
                          f"ORDER BY day, supplier_code", params)
    days = sorted({str(row[0]) for row in daily})
    rates = [Series(item.label, item.values, percent=True) for item in pivot(daily, days)]
    return [Section(
        "Suppliers", ["supplier", "calls", "errors", "error rate", "worst daily p50 ms", "worst daily p95 ms",
                      "worst daily p99 ms", "orders", "confirmed", "failed", "booking success"], rows,
        chart=bar_chart("Supplier calls: answered and failed", [row[0] for row in rows],
                        [Series("answered", [row[1] - row[2] for row in rows]),
                         Series("errors", [row[2] for row in rows])], stacked=True),
        note="Percentiles are computed per day; the table shows each supplier's worst day in the range. "
             "Partner and city filters do not apply to supplier calls.",
        table_id="suppliers",
    ), Section("Error rate per day", ["day", *(item.label for item in rates)],
               [[day, *(item.values[index] for item in rates)] for index, day in enumerate(days)],
               chart=line_chart("Supplier error rate per day", days, rates), table_id="suppliers-daily")]


def _competitiveness(client: Client, filters: Filters) -> list[Section]:
    where, params = filters.where(partner=False)
    wins = _rows(client, f"SELECT supplier_code, currency, sum(wins), toDecimal128(avg(avg_lead_amount), 4), "
                         f"round(avg(avg_lead_pct), 4) FROM {DATABASE}.supplier_price_wins WHERE {where} "
                         f"GROUP BY supplier_code, currency ORDER BY sum(wins) DESC, supplier_code", params)
    leads = _rows(client, f"SELECT day, master_hotel_id, city, room_name, board, currency, suppliers, "
                          f"cheapest_supplier, cheapest_price, next_price, lead_amount FROM "
                          f"{DATABASE}.price_competitiveness WHERE {where} AND suppliers >= 2 "
                          f"ORDER BY lead_amount DESC, day, master_hotel_id LIMIT 50", params)
    return [
        Section("Cheapest supplier per mapped hotel-room-night (with 2+ suppliers)",
                ["supplier", "currency", "nights cheapest", "average lead", "average lead %"], wins,
                chart=bar_chart("Nights cheapest by supplier", [f"{row[0]} ({row[1]})" for row in wins],
                                [Series("nights cheapest", [row[2] for row in wins])]),
                table_id="competitiveness-wins"),
        Section("Largest leads", ["night", "hotel", "city", "room", "board", "currency", "suppliers", "cheapest",
                                  "price", "next price", "lead"],
                [[str(row[0]), *row[1:]] for row in leads], table_id="competitiveness-leads",
                note="Partner filter does not apply to supplier prices. Suppliers' nets are compared in euros at "
                     "the reference rate of the night; a room is one product across suppliers (room mappings)."),
    ]


def _receivables(client: Client, filters: Filters) -> list[Section]:
    """Each partner's balance at the end date (every day up to it), what was invoiced, credited and paid within
    the dates, and days sales outstanding: balance ÷ (invoiced less credited in the 90 days to the end) × 90."""
    params: dict = {"start": filters.start, "end": filters.end,
                    "window": filters.end - timedelta(days=DSO_WINDOW_DAYS - 1)}
    partner = ""
    if filters.partner:
        partner, params["partner"] = " AND partner_id = %(partner)s", filters.partner
    rows = _rows(client, f"SELECT partner_name, currency, sumIf(invoiced, day >= %(start)s),"
                         f" sumIf(credited, day >= %(start)s), sumIf(paid, day >= %(start)s),"
                         f" sum(invoiced - credited - paid), sumIf(invoiced - credited, day >= %(window)s)"
                         f" FROM {DATABASE}.daily_receivables WHERE day <= %(end)s{partner}"
                         f" GROUP BY partner_id, partner_name, currency ORDER BY 6 DESC, partner_name", params)
    table = []
    for name, currency, invoiced, credited, paid, balance, billed in rows:
        dso = (balance / billed * DSO_WINDOW_DAYS).quantize(Decimal("0.1")) if billed > 0 else ""
        table.append([name, currency, invoiced, credited, paid, balance, dso])
    return [Section(
        f"Receivables at {filters.end}", ["partner", "currency", "invoiced", "credited", "paid", "balance",
                                           f"DSO (days, {DSO_WINDOW_DAYS}-day window)"], table,
        chart=bar_chart("Balance by partner", [f"{row[0]} ({row[1]})" for row in table],
                        [Series("balance", [row[5] for row in table])]),
        table_id="receivables", note="Invoiced, credited and paid within the dates; the balance counts every day up"
                                     " to the end date (a negative balance is credit the partner holds).")]


BUILDERS = {"sales": _sales, "conversion": _conversion, "cancellations": _cancellations,
            "suppliers": _suppliers, "competitiveness": _competitiveness, "receivables": _receivables}


def build_report(client: Client, topic: str, filters: Filters) -> Report:
    """The sections of `topic` for `filters` (empty sections when the rollups are not built yet)."""
    report = Report(topic, TOPICS[topic])
    exists = client.query(f"EXISTS TABLE {DATABASE}.daily_sales").result_rows[0][0]
    if not exists:
        report.sections = [Section("No data yet", [], [], note="The rollups have not been built: run "
                                   "`hotelctl backfill warehouse_facts ...` then `warehouse_rollups`.")]
        return report
    report.partners, report.cities = _options(client, filters)
    try:
        report.sections = BUILDERS[topic](client, filters)
    except DatabaseError as error:
        if "UNKNOWN_TABLE" not in str(error):
            raise
        report.sections = [Section("No data yet", [], [], note="The rollups of this topic have not been built "
                                   "yet: run `hotelctl backfill warehouse_rollups ...`.")]
    return report
