"""Finance's settlement review pages under /settlements: the cycles, one cycle's discrepancies (filter, resolve
with a note, approve), a statement upload, the CSV export and the printable report. They call what the JSON
routes in api/routes/settlements.py call (`core.settlement.review`, `core.settlement.store`).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.pages.common import Area, engine, render
from api.routes.settlements import MAX_STATEMENT_BYTES, decimal_param, export_csv, review_failure
from core.settlement import review
from core.settlement.csvio import InputError
from core.settlement.engine import CLASSES
from core.settlement.store import upload_statement

area = Area(name="settlement", prefix="/settlements", cookie="settlement_session", roles=("finance",),
            title="Settlement review", audience="For the finance team.",
            refusal="These pages are for the finance role only.", nav=(("/settlements", "Cycles"),))
router = area.routes()


def report_page(engine: Engine, cycle_id: int) -> HTMLResponse:
    """The one-page printable report of a cycle (raises review.ReviewError for an unknown cycle)."""
    cycle = review.get_cycle(engine, cycle_id)
    rows = review.list_discrepancies(engine, cycle_id, limit=200)
    return render("settlement/report.html", cycle=cycle, discrepancies=rows, classes=CLASSES,
                  journal=review.journal_entries(engine, cycle_id),
                  generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _back(cycle_id: int | str, message: str) -> RedirectResponse:
    return RedirectResponse(f"/settlements/cycles/{cycle_id}?{urlencode({'message': message})}", status_code=303)


def _cycles_page(request: Request, supplier: str | None = None, status: str | None = None,
                 upload_error: str | None = None) -> HTMLResponse:
    if status not in (None, "", "reconciled", "approved", "superseded"):
        status = None
    cycles = review.list_cycles(engine(request), supplier or None, status or None, include_superseded=True)
    return area.page(request, "cycles.html", 422 if upload_error else 200, cycles=cycles, supplier=supplier or "",
                     status=status or "", upload_error=upload_error)


@router.get("/settlements")
def page_cycles(request: Request, supplier: str | None = None, status: str | None = None) -> HTMLResponse:
    if area.session(request) is None:
        return area.login_page()
    return _cycles_page(request, supplier, status)


@router.get("/settlements/cycles/{cycle_id}")
def page_cycle(request: Request, cycle_id: int, cls: str | None = Query(None, alias="class"),
               min_amount: str | None = None, status: str | None = None, message: str | None = None) -> Response:
    if area.session(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    db = engine(request)
    errors = []
    try:
        amount = decimal_param(min_amount, "min_amount")
    except HTTPException:
        amount, errors = None, [f"“{min_amount}” is not an amount; showing every amount."]
    cls = cls if cls in CLASSES else None
    status = status if status in ("open", "resolved") else None
    try:
        cycle = review.get_cycle(db, cycle_id)
        rows = review.list_discrepancies(db, cycle_id, cls, None, amount, status)
    except review.ReviewError as error:
        raise review_failure(error) from None
    return area.page(request, "cycle.html", cycle=cycle, discrepancies=rows, classes=CLASSES,
                     filters={"class": cls or "", "min_amount": min_amount or "", "status": status or ""},
                     errors=errors, message=message, journal=review.journal_entries(db, cycle_id))


@router.post("/settlements/discrepancies/{discrepancy_id}/resolve")
async def page_resolve(request: Request, discrepancy_id: int) -> Response:
    principal, form = await area.checked_form(request)
    cycle_id = form.get("cycle_id", "")
    try:
        row = await run_in_threadpool(review.resolve_discrepancy, engine(request), discrepancy_id,
                                      form.get("note", ""), principal.client_id)
        message = f"Discrepancy {row['supplier_ref'] or row['id']} resolved."
        cycle_id = str(row["cycle_id"])
    except review.ReviewError as error:
        message = f"Not resolved: {error.message}"
    if not cycle_id.isdigit():
        return RedirectResponse("/settlements", status_code=303)
    return _back(cycle_id, message)


@router.post("/settlements/cycles/{cycle_id}/approve")
async def page_approve(request: Request, cycle_id: int) -> Response:
    principal, _form = await area.checked_form(request)
    try:
        await run_in_threadpool(review.approve_cycle, engine(request), cycle_id, principal.client_id)
        message = "Cycle approved."
    except review.ReviewError as error:
        message = f"Not approved: {error.message}"
    return _back(cycle_id, message)


@router.post("/settlements/statements")
async def page_upload(request: Request) -> Response:
    """The page's statement upload: the CSV text arrives in a form field (the page's file picker fills it)."""
    principal, form = await area.checked_form(request, limit=3 * MAX_STATEMENT_BYTES)
    supplier, period = form.get("supplier", "").strip(), form.get("period_start", "").strip()
    try:
        period_start = dt.date.fromisoformat(period)
    except ValueError:
        return _cycles_page(request, upload_error=f"period_start: {period!r} is not a date (YYYY-MM-DD)")
    try:
        result = await run_in_threadpool(upload_statement, engine(request), request.app.state.settings, supplier,
                                         period_start, form.get("content", ""), form.get("filename") or None,
                                         principal.client_id)
    except review.ReviewError as error:
        return _cycles_page(request, upload_error=error.message)
    except InputError as error:
        return _cycles_page(request, upload_error=str(error))
    cycle = result["cycle"]
    return _back(cycle["id"], f"Statement #{result['id']} ({result['lines']} lines) reconciled: revision"
                              f" {cycle['revision']} ({cycle['action'].replace('_', ' ')}),"
                              f" {cycle['counts']['discrepancies']} discrepancies.")


@router.get("/settlements/cycles/{cycle_id}/export.csv")
def page_export(request: Request, cycle_id: int) -> Response:
    if area.session(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    return export_csv(engine(request), cycle_id)


@router.get("/settlements/cycles/{cycle_id}/report")
def page_report(request: Request, cycle_id: int) -> Response:
    if area.session(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    try:
        return report_page(engine(request), cycle_id)
    except review.ReviewError as error:
        raise review_failure(error) from None
