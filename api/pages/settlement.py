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

from api.auth import actor
from api.pages.common import Area, engine, render, signed_flash, verified_flash
from api.routes.settlements import MAX_STATEMENT_BYTES, decimal_param, export_csv, review_failure
from core.settlement import review
from core.settlement.csvio import InputError
from core.settlement.engine import CLASSES
from core.settlement.store import upload_statement

area = Area(name="settlement", prefix="/settlements", roles=("finance",),
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


def _back(request: Request, cycle_id: int | str, message: str) -> RedirectResponse:
    """Back to the cycle's page with a message it shows only because this server signed it."""
    query = urlencode(signed_flash(request, message, "message"))
    return RedirectResponse(f"/settlements/cycles/{cycle_id}?{query}", status_code=303)


async def _cycles_page(request: Request, supplier: str | None = None, status: str | None = None,
                       upload_error: str | None = None) -> HTMLResponse:
    if status not in (None, "", "reconciled", "approved", "superseded"):
        status = None
    cycles = await run_in_threadpool(review.list_cycles, engine(request), supplier or None, status or None, True)
    return await area.page(request, "cycles.html", 422 if upload_error else 200, cycles=cycles,
                           supplier=supplier or "", status=status or "", upload_error=upload_error)


@router.get("/settlements")
async def page_cycles(request: Request, supplier: str | None = None, status: str | None = None) -> HTMLResponse:
    if await area.session(request) is None:
        return await area.login_page(request)
    return await _cycles_page(request, supplier, status)


@router.get("/settlements/cycles/{cycle_id}")
async def page_cycle(request: Request, cycle_id: int, cls: str | None = Query(None, alias="class"),
                     min_amount: str | None = None, status: str | None = None) -> Response:
    if await area.session(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    db = engine(request)
    errors = []
    try:
        amount = decimal_param(min_amount, "min_amount")
    except HTTPException:
        amount, errors = None, [f"“{min_amount}” is not an amount; showing every amount."]
    cls = cls if cls in CLASSES else None
    status = status if status in ("open", "resolved") else None

    def load():
        return (review.get_cycle(db, cycle_id), review.list_discrepancies(db, cycle_id, cls, None, amount, status),
                review.journal_entries(db, cycle_id))

    try:
        cycle, rows, journal = await run_in_threadpool(load)
    except review.ReviewError as error:
        raise review_failure(error) from None
    return await area.page(request, "cycle.html", cycle=cycle, discrepancies=rows, classes=CLASSES,
                           filters={"class": cls or "", "min_amount": min_amount or "", "status": status or ""},
                           errors=errors, message=verified_flash(request, "message"), journal=journal)


@router.post("/settlements/discrepancies/{discrepancy_id}/resolve")
async def page_resolve(request: Request, discrepancy_id: int) -> Response:
    principal, form = await area.checked_form(request)
    cycle_id = form.get("cycle_id", "")
    try:
        row = await run_in_threadpool(review.resolve_discrepancy, engine(request), discrepancy_id,
                                      form.get("note", ""), actor(principal, "console"))
        message = f"Discrepancy {row['supplier_ref'] or row['id']} resolved."
        cycle_id = str(row["cycle_id"])
    except review.ReviewError as error:
        message = f"Not resolved: {error.message}"
    if not cycle_id.isdigit():
        return RedirectResponse("/settlements", status_code=303)
    return _back(request, cycle_id, message)


@router.post("/settlements/cycles/{cycle_id}/approve")
async def page_approve(request: Request, cycle_id: int) -> Response:
    principal, _form = await area.checked_form(request)
    try:
        cycle = await run_in_threadpool(review.approve_cycle, engine(request), cycle_id, actor(principal, "console"))
        still_open = cycle["open_discrepancies"]
        message = "Cycle approved." if not still_open else (
            f"Cycle approved with {still_open} discrepancies open; they stay as they are in this revision.")
    except review.ReviewError as error:
        message = f"Not approved: {error.message}"
    return _back(request, cycle_id, message)


@router.post("/settlements/statements")
async def page_upload(request: Request) -> Response:
    """The page's statement upload: the CSV text arrives in a form field (the page's file picker fills it)."""
    principal, form = await area.checked_form(request, limit=3 * MAX_STATEMENT_BYTES)
    supplier, period = form.get("supplier", "").strip(), form.get("period_start", "").strip()
    try:
        period_start = dt.date.fromisoformat(period)
    except ValueError:
        return await _cycles_page(request, upload_error=f"period_start: {period!r} is not a date (YYYY-MM-DD)")
    try:
        result = await run_in_threadpool(upload_statement, engine(request), request.app.state.settings, supplier,
                                         period_start, form.get("content", ""), form.get("filename") or None,
                                         principal.client_id)
    except review.ReviewError as error:
        return await _cycles_page(request, upload_error=error.message)
    except InputError as error:
        return await _cycles_page(request, upload_error=str(error))
    cycle = result["cycle"]
    return _back(request, cycle["id"], f"Statement #{result['id']} ({result['lines']} lines) reconciled: revision"
                              f" {cycle['revision']} ({cycle['action'].replace('_', ' ')}),"
                              f" {cycle['counts']['discrepancies']} discrepancies.")


@router.get("/settlements/cycles/{cycle_id}/export.csv")
async def page_export(request: Request, cycle_id: int) -> Response:
    if await area.session(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    return await run_in_threadpool(export_csv, engine(request), cycle_id)


@router.get("/settlements/cycles/{cycle_id}/report")
async def page_report(request: Request, cycle_id: int) -> Response:
    if await area.session(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    try:
        return await run_in_threadpool(report_page, engine(request), cycle_id)
    except review.ReviewError as error:
        raise review_failure(error) from None
