"""BI reports for analysts under /reports: a page per topic, charts as inline SVG, filters in the URL.

Staff only (operator or finance): a bearer token, or the sign-in form that sets an HttpOnly cookie
scoped to /reports. The warehouse is opened per request and closed (chDB admits one process per data
path: the API never holds it between requests).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from api.auth import Principal, authenticate_client, decode_token, issue_token
from warehouse.client import warehouse_client
from warehouse.reports import TOPICS, Filters, build_report

router = APIRouter(tags=["reports"], include_in_schema=False)
COOKIE = "reports_session"
STAFF = ("operator", "finance")
DEFAULT_DAYS = 30
MAX_DAYS = 800
templates = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
                        autoescape=select_autoescape(["html"]))


def _principal(request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal, _expires = decode_token(request.app.state.settings, token)
    except HTTPException:
        return None
    return principal if principal.role in STAFF else None


def _login_page(next_url: str, message: str | None = None, status: int = 200) -> HTMLResponse:
    return HTMLResponse(templates.get_template("reports_login.html").render(message=message, next_url=next_url),
                        status_code=status)


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
def reports_index(request: Request) -> Response:
    if _principal(request) is None:
        return _login_page("/reports")
    return HTMLResponse(templates.get_template("reports_index.html").render(topics=TOPICS, query=request.url.query))


@router.get("/reports/{topic}")
def report_page(request: Request, topic: str, date_from: str | None = Query(None, alias="from"),
                date_to: str | None = Query(None, alias="to"), partner: str | None = Query(None, max_length=64),
                city: str | None = Query(None, max_length=200)) -> Response:
    if topic not in TOPICS:
        raise HTTPException(404, detail={"code": "not_found", "message": f"no report '{topic}' "
                                                                         f"(reports: {', '.join(TOPICS)})"})
    if _principal(request) is None:
        return _login_page(f"/reports/{topic}" + (f"?{request.url.query}" if request.url.query else ""))
    filters = _filters(date_from, date_to, partner, city)
    endpoints = request.app.state.endpoints
    try:
        with warehouse_client(endpoints.clickhouse_url, lock_timeout_s=10) as client:
            report = build_report(client, topic, filters)
    except TimeoutError:
        raise HTTPException(503, detail={"code": "warehouse_busy", "message": "the warehouse is busy with a "
                                         "pipeline step; retry in a moment"}) from None
    for section in report.sections:
        section.chart = Markup(section.chart)  # built by warehouse.reports with every value escaped
    query = urlencode({key: value for key, value in (("from", filters.start.isoformat()),
                                                     ("to", filters.end.isoformat()), ("partner", filters.partner),
                                                     ("city", filters.city)) if value})
    return HTMLResponse(templates.get_template("reports_topic.html").render(
        report=report, topics=TOPICS, filters=filters, query=query))


@router.post("/reports/login")
async def reports_login(request: Request) -> Response:
    body = (await request.body())[:16 * 1024].decode("utf-8", "replace")
    form = {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}
    next_url = form.get("next", "/reports")
    if not next_url.startswith("/reports") or "//" in next_url:
        next_url = "/reports"
    client_id, secret = form.get("client_id", "").strip(), form.get("client_secret", "")
    if not client_id or not secret:
        return _login_page(next_url, "Enter the client id and the secret.", 422)
    try:
        principal = await authenticate_client(request.app.state.pg, client_id, secret)
    except HTTPException:
        return _login_page(next_url, "Those credentials are not valid.", 401)
    if principal.role not in STAFF:
        return _login_page(next_url, "Reports are for the operator and finance roles.", 403)
    token, expires_in = issue_token(request.app.state.settings, principal)
    response = RedirectResponse(quote(next_url, safe="/?=&-_.%"), status_code=303)
    # Lax (not Strict): analysts follow links to reports from the Dagster UI, a different origin.
    response.set_cookie(COOKIE, token, max_age=expires_in, httponly=True, samesite="lax", path="/reports",
                        secure=request.url.scheme == "https")
    return response


@router.post("/reports/logout")
def reports_logout() -> Response:
    response = RedirectResponse("/reports", status_code=303)
    response.delete_cookie(COOKIE, path="/reports")
    return response
