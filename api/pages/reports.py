"""BI reports for analysts under /reports: a page per topic, charts drawn by Chart.js (served under
/static/vendor/), sortable tables, each exportable as CSV, filters in the URL.

Staff only (operator, finance or admin): a staff bearer token, or the staff session every page area shares
(its cookie is SameSite=Lax: analysts follow links to reports from the Dagster UI, another origin). The
warehouse stays open between requests (`warehouse.client.HeldWarehouse`: chDB admits one process per data path,
so it is given up when idle or when a pipeline step waits for it; WAREHOUSE_HOLD_S).
"""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.pages.common import Area
from core import csv_export
from warehouse.reports import TOPICS, Filters, Report, build_report

area = Area(name="reports", prefix="/reports", roles=("operator", "finance"),
            title="Reports", audience="For analysts with operator or finance credentials.",
            refusal="Reports are for the operator and finance roles.", bearer=True,
            nav=(("/reports", "All reports"),))
router = area.routes()
DEFAULT_DAYS = 30
MAX_DAYS = 800


def _day(value: str | None, field: str, default: dt.date) -> dt.date:
    if value in (None, ""):
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, detail={"code": "validation_error", "field": field,
                                         "message": f"{field}: '{value}' is not a date (YYYY-MM-DD)"}) from None


def _filters(date_from: str | None, date_to: str | None, partner: str | None, city: str | None) -> Filters:
    end = _day(date_to, "to", dt.datetime.now(dt.UTC).date())
    start = _day(date_from, "from", end - dt.timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise HTTPException(422, detail={"code": "validation_error", "field": "from",
                                         "message": "from: the range starts after it ends"})
    if (end - start).days > MAX_DAYS:
        raise HTTPException(422, detail={"code": "validation_error", "field": "from",
                                         "message": f"from: a range of at most {MAX_DAYS} days"})
    return Filters(start, end, partner or None, city or None)


@router.get("/reports")
async def reports_index(request: Request) -> Response:
    if await area.session(request) is None:
        return await area.login_page(request)
    return await area.page(request, "index.html", topics=TOPICS, query=request.url.query)


@router.get("/reports/{topic}")
async def report_page(request: Request, topic: str, date_from: str | None = Query(None, alias="from"),
                      date_to: str | None = Query(None, alias="to"), partner: str | None = Query(None, max_length=64),
                      city: str | None = Query(None, max_length=200)) -> Response:
    if topic not in TOPICS:
        raise HTTPException(404, detail={"code": "not_found", "message": f"no report '{topic}' "
                                                                         f"(reports: {', '.join(TOPICS)})"})
    if await area.session(request) is None:
        query = f"?{request.url.query}" if request.url.query else ""
        return await area.login_page(request, next_url=f"/reports/{topic}{query}")
    filters = _filters(date_from, date_to, partner, city)
    report = await _report(request, topic, filters)
    query = urlencode({key: value for key, value in (("from", filters.start.isoformat()),
                                                     ("to", filters.end.isoformat()), ("partner", filters.partner),
                                                     ("city", filters.city)) if value})
    return await area.page(request, "topic.html", report=report, topics=TOPICS, filters=filters, query=query)


@router.get("/reports/{topic}/export.csv")
async def report_csv(request: Request, topic: str, table: str = Query(..., max_length=100),
                     date_from: str | None = Query(None, alias="from"), date_to: str | None = Query(None, alias="to"),
                     partner: str | None = Query(None, max_length=64),
                     city: str | None = Query(None, max_length=200)) -> Response:
    """One table of a report as CSV, with the page's filters: exact amounts, a header row."""
    if topic not in TOPICS:
        raise HTTPException(404, detail={"code": "not_found", "message": f"no report '{topic}'"})
    if await area.session(request) is None:
        raise HTTPException(401, detail={"code": "unauthorized", "message": "sign in at /reports first"})
    filters = _filters(date_from, date_to, partner, city)
    report = await _report(request, topic, filters)
    section = next((section for section in report.sections if section.table_id == table and section.columns), None)
    if section is None:
        tables = ", ".join(section.table_id for section in report.sections if section.columns)
        raise HTTPException(404, detail={"code": "not_found", "field": "table",
                                         "message": f"table: no table '{table}' in this report ({tables})"})
    out = io.StringIO()
    writer = csv_export.writer(out, lineterminator="\n")
    writer.writerow(section.columns)
    writer.writerows(section.rows)
    name = f"{table}-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def _report(request: Request, topic: str, filters: Filters) -> Report:
    warehouse = request.app.state.warehouse

    def build() -> Report:
        with warehouse.client() as client:
            return build_report(client, topic, filters)

    try:
        return await run_in_threadpool(build)
    except TimeoutError:
        raise HTTPException(503, detail={"code": "warehouse_busy", "message": "the warehouse is busy with a "
                                         "pipeline step; retry in a moment"}) from None
