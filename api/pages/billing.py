"""Finance's billing pages under /billing (server-rendered, signed in as the settlement pages are): statements
per cycle, issuing invoices and credit notes, payments and bank statements, unmatched bank lines, ageing, exports.
Every action calls what the JSON routes call (`core.billing`), never SQL; a refusal comes back as a message on
the page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import actor
from api.pages.common import Area, engine, signed_flash, verified_flash
from api.routes.billing import RowId
from core.billing import ageing, invoices, payments, statements
from core.billing.store import BillingError

PREFIX = "/billing"
area = Area(name="billing", prefix=PREFIX, roles=("finance",), title="Partner billing",
            audience="For the finance team.", refusal="These pages are for the finance role only.",
            nav=((PREFIX, "Statements and invoices"), (f"{PREFIX}/bank-lines", "Bank lines"),
                 (f"{PREFIX}/ageing", "Ageing")))
router = area.routes()
FILE_FORM_LIMIT = 6 * 1024 * 1024


async def _page(request: Request, name: str, status_code: int = 200, **values) -> Response:
    return await area.page(request, f"{name}.html", status_code, message=verified_flash(request, "message"),
                           **values)


async def _checked(request: Request):
    return await area.checked_form(request, limit=FILE_FORM_LIMIT)


async def _found(request: Request, what: str, read, key):
    """What `read(engine, key)` finds, else 404 naming `what`."""
    found = await run_in_threadpool(read, engine(request), key)
    if found is None:
        raise HTTPException(404, detail={"code": "not_found", "message": f"no such {what}"})
    return found


def _back(request: Request, path: str, message: str) -> RedirectResponse:
    """Back to `path` with a message the page shows only because this server signed it."""
    return RedirectResponse(f"{path}?{urlencode(signed_flash(request, message, 'message'))}", status_code=303)


async def _act(request: Request, path: str, done, function, *args, **kwargs) -> RedirectResponse:
    """Run a core action; back to `path` with `done(result)` or the refusal as the page's message."""
    try:
        result = await run_in_threadpool(function, *args, **kwargs)
    except BillingError as error:
        return _back(request, path, f"Not done: {error.message}")
    return _back(request, path, done(result))


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _cycle(request: Request) -> dt.date | None:
    return _day(request.query_params.get("cycle", ""))


@router.get(PREFIX)
async def index(request: Request) -> Response:
    """Statements of a cycle (default: every recent one) and the invoices issued."""
    if await area.session(request) is None:
        return await area.login_page(request)
    db, cycle = engine(request), _cycle(request)
    rows = await run_in_threadpool(statements.list_statements, db, None, cycle, 100)
    documents = await run_in_threadpool(invoices.list_documents, db, None, None, cycle, 100)
    return await _page(request, "index", statements=rows, documents=documents, cycle=cycle.isoformat() if cycle else "")


@router.get(PREFIX + "/statements/{statement_id}")
async def statement(request: Request, statement_id: RowId) -> Response:
    if await area.session(request) is None:
        return RedirectResponse(PREFIX, status_code=303)
    found = await _found(request, "statement", statements.get_statement, statement_id)
    return await _page(request, "statement", statement=found, today=dt.date.today().isoformat())


@router.post(PREFIX + "/invoices")
async def issue(request: Request) -> Response:
    principal, form = await _checked(request)
    period = _day(form.get("period_start", ""))
    if period is None:
        return _back(request, PREFIX, "Not done: period_start is not a date (YYYY-MM-DD)")
    return await _act(request, PREFIX,
                      lambda d: f"Invoice {d['document_number']} issued: {d['total']} {d['currency']}.",
                      invoices.issue_invoice, engine(request), request.app.state.settings,
                      form.get("partner_id", ""), period, actor(principal, "console"), _day(form.get("issued_on", "")))


@router.get(PREFIX + "/invoices/{key}")
async def document(request: Request, key: str) -> Response:
    if await area.session(request) is None:
        return RedirectResponse(PREFIX, status_code=303)
    found = await _found(request, "invoice", invoices.get_document, key)
    return await _page(request, "document", document=found, today=dt.date.today().isoformat())


@router.get(PREFIX + "/invoices/{key}/pdf")
async def document_pdf(request: Request, key: str) -> Response:
    if await area.session(request) is None:
        return RedirectResponse(PREFIX, status_code=303)
    found = await _found(request, "invoice", invoices.document_pdf, key)
    return Response(found[1], media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{found[0]}"'})


@router.post(PREFIX + "/invoices/{key}/credit-notes")
async def credit_note(request: Request, key: str) -> Response:
    principal, form = await _checked(request)
    amount = form.get("amount", "").strip()
    try:
        value = Decimal(amount) if amount else None
    except InvalidOperation:
        return _back(request, f"{PREFIX}/invoices/{key}", f"Not done: amount: {amount!r} is not an amount")
    return await _act(request, f"{PREFIX}/invoices/{key}",
                      lambda d: f"Credit note {d['document_number']} issued: {d['total']} {d['currency']}.",
                      invoices.issue_credit_note, engine(request), request.app.state.settings, key,
                      form.get("reason", ""), actor(principal, "console"), value, _day(form.get("issued_on", "")))


@router.post(PREFIX + "/payments")
async def payment(request: Request) -> Response:
    principal, form = await _checked(request)
    back = form.get("back", PREFIX) if form.get("back", "").startswith(PREFIX) else PREFIX
    return await _act(request, back,
                      lambda p: f"Payment {p['payment_id']} recorded; credit left {p['credit']} {p['currency']}.",
                      payments.record_payment, engine(request), form.get("partner_id") or None,
                      form.get("amount", ""), form.get("currency", "").strip().upper(),
                      _day(form.get("received_on", "")) or dt.date.today(), actor(principal, "console"),
                      form.get("reference", ""), form.get("invoice") or None)


@router.post(PREFIX + "/bank-statements")
async def bank_statement(request: Request) -> Response:
    principal, form = await _checked(request)
    return await _act(request, f"{PREFIX}/bank-lines",
                      lambda r: f"{r['lines']} lines: {len(r['matched'])} matched, {len(r['unmatched'])} for review,"
                                f" {r['already_imported']} already imported.",
                      payments.import_bank_statement, engine(request), form.get("content", ""),
                      form.get("filename") or None, actor(principal, "console"))


@router.get(PREFIX + "/bank-lines")
async def bank_lines(request: Request) -> Response:
    if await area.session(request) is None:
        return RedirectResponse(PREFIX, status_code=303)
    status = request.query_params.get("status", "unmatched")
    status = status if status in ("unmatched", "matched", "assigned", "ignored") else "unmatched"
    lines = await run_in_threadpool(payments.list_bank_lines, engine(request), status)
    return await _page(request, "bank_lines", lines=lines, shown=status)


@router.post(PREFIX + "/bank-lines/{line_id}")
async def bank_line(request: Request, line_id: RowId) -> Response:
    principal, form = await _checked(request)
    choice = {"invoice": form.get("invoice") or None, "partner_id": form.get("partner_id") or None,
              "ignore_note": form.get("ignore_note") or None}
    return await _act(request, f"{PREFIX}/bank-lines", lambda r: f"Bank line {line_id}: {r['status']}.",
                      payments.review_bank_line, engine(request), line_id, actor(principal, "console"), **choice)


@router.get(PREFIX + "/ageing")
async def ageing_page(request: Request) -> Response:
    if await area.session(request) is None:
        return RedirectResponse(PREFIX, status_code=303)
    as_of = _day(request.query_params.get("as_of", ""))
    report = await run_in_threadpool(ageing.ageing, engine(request), as_of)
    return await _page(request, "ageing", report=report, buckets=ageing.BUCKETS)


@router.get(PREFIX + "/ageing.csv")
async def ageing_export(request: Request) -> Response:
    if await area.session(request) is None:
        return RedirectResponse(PREFIX, status_code=303)
    report = await run_in_threadpool(ageing.ageing, engine(request), _day(request.query_params.get("as_of", "")))
    return PlainTextResponse(ageing.ageing_csv(report), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="ageing-{report["as_of"]}.csv"'})


@router.get(PREFIX + "/invoices.csv")
async def invoices_export(request: Request) -> Response:
    if await area.session(request) is None:
        return RedirectResponse(PREFIX, status_code=303)
    db, cycle = engine(request), _cycle(request)

    def export() -> str:
        return invoices.documents_csv(db, invoices.list_documents(db, None, None, cycle))

    return PlainTextResponse(await run_in_threadpool(export), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="invoices.csv"'})
