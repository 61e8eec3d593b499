"""The operator console under /console, for every staff role: the audit log (who did what, when, before
and after), filtered, paginated and exportable as CSV. It reads what GET /v1/admin/audit reads.
The operators' pages (orders, partners, suppliers, mappings, settings) are in console_*.py beside it."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.pages.common import Area, engine
from api.routes.audit import MAX_EXPORT, csv_response, query_from
from core import audit

PAGE_SIZE = 50
area = Area(name="console", prefix="/console", roles=("operator", "finance"), title="Operator console",
            audience="For the people who run the platform.", refusal="The console is for staff.",
            nav=(("/console/audit", "Audit log"), ("/pricing", "Pricing"), ("/settlements", "Settlements"),
                 ("/billing", "Billing"), ("/reports", "Reports")))
router = area.routes()


# The console header's links, per role (an admin sees them all); the home page /console is in console_home.py.
NAV = (("/console", "Console", ("operator", "finance")), ("/console/orders", "Orders", ("operator",)),
       ("/console/orders/review", "Review queue", ("operator",)), ("/console/partners", "Partners", ("operator",)),
       ("/console/suppliers", "Suppliers", ("operator",)), ("/console/mappings", "Mappings", ("operator",)),
       ("/console/settings", "Settings", ("operator",)), ("/pricing", "Pricing", ("operator",)),
       ("/settlements", "Settlements", ("finance",)), ("/billing", "Billing", ("finance",)),
       ("/reports", "Reports", ("operator", "finance")), ("/console/audit", "Audit log", ("operator", "finance")))


def nav_for(role: str) -> tuple[tuple[str, str], ...]:
    return tuple((path, label) for path, label, roles in NAV if role == "admin" or role in roles)


@router.get("/console/audit")
async def audit_page(request: Request) -> Response:
    if await area.session(request) is None:
        query = f"?{request.url.query}" if request.url.query else ""
        return await area.login_page(request, next_url=f"/console/audit{query}")
    params = request.query_params
    errors = []
    try:
        query = query_from(params.get("actor"), params.get("action"), params.get("target"), params.get("source"),
                           params.get("from"), params.get("to"))
    except HTTPException as error:
        errors.append(error.detail["message"])
        query = query_from(params.get("actor"), params.get("action"), params.get("target"), None, None, None)
    page = int(params["page"]) if params.get("page", "").isdigit() and int(params["page"]) > 0 else 1
    rows = await run_in_threadpool(query.search, engine(request), PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
    filters = query.params()
    session = await area.session(request)
    return await area.page(
        request, "audit.html", nav=nav_for(session.principal.role if session else ""), entries=rows[:PAGE_SIZE],
        filters=filters, sources=audit.SOURCES, errors=errors,
        page=page, previous_url=f"?{urlencode({**filters, 'page': page - 1})}" if page > 1 else None,
        next_url=f"?{urlencode({**filters, 'page': page + 1})}" if len(rows) > PAGE_SIZE else None,
        csv_url=f"/console/audit.csv?{urlencode(filters)}")


@router.get("/console/audit.csv")
async def audit_csv(request: Request) -> Response:
    if await area.session(request) is None:
        return RedirectResponse("/console", status_code=303)
    params = request.query_params
    query = query_from(params.get("actor"), params.get("action"), params.get("target"), params.get("source"),
                       params.get("from"), params.get("to"))
    return csv_response(await run_in_threadpool(query.search, engine(request), MAX_EXPORT))
