"""Finance's settlement review: JSON API under /v1/settlements (bearer token, finance role) and the
server-rendered pages under /settlements (a login form sets an HttpOnly cookie holding the token).

The routes are thin: every query and rule lives in `core.settlement.review` and `core.settlement.store`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.auth import Principal, authenticate_client, decode_token, issue_token, require_role
from core.db import engine_for
from core.settlement import review
from core.settlement.csvio import InputError
from core.settlement.cycles import cycle_starting
from core.settlement.engine import CLASSES

router = APIRouter(tags=["settlements"])
finance = require_role("finance")
COOKIE = "settlement_session"
MAX_STATEMENT_BYTES = 20 * 1024 * 1024
templates = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
                        autoescape=select_autoescape(["html"]))


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


def _fail(error: review.ReviewError) -> HTTPException:
    status = {"not_found": 404, "conflict": 409, "invalid": 422}[error.code]
    detail = {"code": error.code if error.code != "invalid" else "validation_error", "message": error.message}
    if error.field:
        detail["field"] = error.field
    return HTTPException(status, detail=detail)


def _decimal(value: str | None, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise HTTPException(422, detail={"code": "validation_error", "field": field,
                                         "message": f"{field}: not a decimal amount"}) from None
    if not amount.is_finite():
        raise HTTPException(422, detail={"code": "validation_error", "field": field,
                                         "message": f"{field}: not a finite amount"})
    return amount


def _class(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in CLASSES:
        raise HTTPException(422, detail={"code": "validation_error", "field": "class",
                                         "message": f"class: one of {', '.join(CLASSES)}"})
    return value


# --- JSON API ---------------------------------------------------------------------------------------

@router.get("/v1/settlements/cycles", summary="Settlement cycles with status and totals (finance)")
def api_list_cycles(request: Request, supplier: str | None = Query(None, max_length=20),
                    status: str | None = Query(None, pattern="^(reconciled|approved|superseded)$"),
                    include_superseded: bool = False, principal: Principal = Depends(finance)) -> dict:
    return {"cycles": review.list_cycles(_engine(request), supplier, status, include_superseded)}


@router.get("/v1/settlements/cycles/{cycle_id}", summary="One cycle's summary (finance)")
def api_get_cycle(request: Request, cycle_id: int, principal: Principal = Depends(finance)) -> dict:
    try:
        return review.get_cycle(_engine(request), cycle_id)
    except review.ReviewError as error:
        raise _fail(error) from None


@router.get("/v1/settlements/cycles/{cycle_id}/discrepancies", summary="A cycle's discrepancies (finance)")
def api_discrepancies(request: Request, cycle_id: int, cls: str | None = Query(None, alias="class"),
                      supplier: str | None = Query(None, max_length=20), min_amount: str | None = Query(None),
                      status: str | None = Query(None, pattern="^(open|resolved)$"),
                      limit: int = Query(500, ge=1, le=10_000), offset: int = Query(0, ge=0),
                      principal: Principal = Depends(finance)) -> dict:
    try:
        rows = review.list_discrepancies(_engine(request), cycle_id, _class(cls), supplier,
                                         _decimal(min_amount, "min_amount"), status, limit, offset)
    except review.ReviewError as error:
        raise _fail(error) from None
    return {"cycle_id": cycle_id, "discrepancies": rows}


@router.post("/v1/settlements/discrepancies/{discrepancy_id}/resolve", summary="Resolve with a note (finance)")
async def api_resolve(request: Request, discrepancy_id: int, principal: Principal = Depends(finance)) -> dict:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("note"), str):
        raise HTTPException(422, detail={"code": "validation_error", "field": "note",
                                         "message": "note: a JSON body {\"note\": \"...\"} is required"})
    from starlette.concurrency import run_in_threadpool

    try:
        return await run_in_threadpool(review.resolve_discrepancy, _engine(request), discrepancy_id, body["note"],
                                       principal.client_id)
    except review.ReviewError as error:
        raise _fail(error) from None


@router.post("/v1/settlements/cycles/{cycle_id}/approve", summary="Approve a reconciled cycle (finance)")
def api_approve(request: Request, cycle_id: int, principal: Principal = Depends(finance)) -> dict:
    try:
        return review.approve_cycle(_engine(request), cycle_id, principal.client_id)
    except review.ReviewError as error:
        raise _fail(error) from None


@router.get("/v1/settlements/cycles/{cycle_id}/export.csv", summary="Export a cycle's discrepancies as CSV")
def api_export(request: Request, cycle_id: int, principal: Principal = Depends(finance)) -> Response:
    return _export(request, cycle_id)


@router.get("/v1/settlements/cycles/{cycle_id}/report", summary="One-page printable report (HTML)")
def api_report(request: Request, cycle_id: int, principal: Principal = Depends(finance)) -> HTMLResponse:
    return _report(request, cycle_id)


@router.post("/v1/settlements/statements", status_code=201,
             summary="Upload a supplier statement CSV for a cycle (finance); body is the CSV text")
async def api_upload_statement(request: Request, supplier: str = Query(..., min_length=1, max_length=20),
                               period_start: dt.date = Query(...), filename: str | None = Query(None, max_length=200),
                               reconcile: bool = Query(True), principal: Principal = Depends(finance)) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_STATEMENT_BYTES:
            raise HTTPException(413, detail={"code": "payload_too_large",
                                             "message": f"statement larger than {MAX_STATEMENT_BYTES} bytes"})
    try:
        text = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, detail={"code": "validation_error", "field": "body",
                                         "message": "the statement is not UTF-8 text"}) from None
    result = await run_in_threadpool(_upload_and_run, request, supplier, period_start, text, filename, reconcile,
                                     principal.client_id)
    return JSONResponse(result, status_code=201)


def _upload_and_run(request: Request, supplier: str, period_start: dt.date, text: str, filename: str | None,
                    run: bool, who: str) -> dict:
    import sqlalchemy as sa

    from core.settlement.store import run_cycle, statement_for_cycle, store_upload

    settings = request.app.state.settings
    engine = _engine(request)
    try:
        cycle = cycle_starting(period_start, settings.settle_cycle_days)
    except ValueError as error:
        raise HTTPException(422, detail={"code": "validation_error", "field": "period_start",
                                         "message": str(error)}) from None
    with engine.connect() as conn:
        if conn.execute(sa.text("SELECT 1 FROM suppliers WHERE code = :c"), {"c": supplier}).first() is None:
            raise HTTPException(404, detail={"code": "not_found", "message": f"no supplier {supplier!r}"})
    try:
        upload = store_upload(engine, supplier, cycle, text, filename, who)
    except InputError as error:
        raise HTTPException(422, detail={"code": "validation_error", "message": str(error), "line": error.line,
                                         "column": error.column}) from None
    if run:
        frame, source = statement_for_cycle(engine, settings, supplier, cycle)
        outcome = run_cycle(engine, supplier, cycle, frame, source, run_id=f"upload:{upload['id']}")
        upload["cycle"] = {"id": outcome.cycle_id, "revision": outcome.revision, "action": outcome.action,
                           "superseded_revision": outcome.superseded_revision, "counts": outcome.counts}
    return upload


def _export(request: Request, cycle_id: int) -> Response:
    engine = _engine(request)
    try:
        cycle = review.get_cycle(engine, cycle_id)
        text = review.export_csv(engine, cycle_id)
    except review.ReviewError as error:
        raise _fail(error) from None
    name = f"settlement-{cycle['supplier_code']}-{cycle['period_start']}-r{cycle['revision']}.csv"
    return PlainTextResponse(text, media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _report(request: Request, cycle_id: int) -> HTMLResponse:
    engine = _engine(request)
    try:
        cycle = review.get_cycle(engine, cycle_id)
        rows = review.list_discrepancies(engine, cycle_id, limit=200)
    except review.ReviewError as error:
        raise _fail(error) from None
    html = templates.get_template("settlement_report.html").render(
        cycle=cycle, discrepancies=rows, classes=CLASSES, journal=review.journal_entries(engine, cycle_id),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return HTMLResponse(html)


# --- server-rendered pages (cookie session) -----------------------------------------------------------

def _csrf(request: Request, token: str) -> str:
    secret = request.app.state.settings.jwt_secret.get_secret_value().encode()
    return hmac.new(secret, b"settlement-csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def _page_principal(request: Request) -> tuple[Principal, str] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal, _expires = decode_token(request.app.state.settings, token)
    except HTTPException:
        return None
    return (principal, token) if principal.role == "finance" else None


def _login_page(message: str | None = None, status: int = 200) -> HTMLResponse:
    return HTMLResponse(templates.get_template("settlement_login.html").render(message=message), status_code=status)


async def _form(request: Request, limit: int = 64 * 1024) -> dict[str, str]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, detail={"code": "payload_too_large", "message": f"form larger than {limit} bytes"})
    body = bytes(body).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _checked_session(request: Request, form: dict[str, str]) -> Principal:
    session = _page_principal(request)
    if session is None:
        raise HTTPException(401, detail={"code": "unauthorized", "message": "sign in as finance first"})
    principal, token = session
    if not hmac.compare_digest(form.get("csrf", ""), _csrf(request, token)):
        raise HTTPException(403, detail={"code": "forbidden", "message": "stale form: reload the page"})
    return principal


@router.get("/settlements", include_in_schema=False)
def page_cycles(request: Request, supplier: str | None = None, status: str | None = None) -> HTMLResponse:
    if _page_principal(request) is None:
        return _login_page()
    return _cycles_page(request, supplier, status)


def _cycles_page(request: Request, supplier: str | None = None, status: str | None = None,
                 upload_error: str | None = None) -> HTMLResponse:
    principal, token = _page_principal(request)
    if status not in (None, "", "reconciled", "approved", "superseded"):
        status = None
    cycles = review.list_cycles(_engine(request), supplier or None, status or None, include_superseded=True)
    return HTMLResponse(templates.get_template("settlement_cycles.html").render(
        cycles=cycles, principal=principal, csrf=_csrf(request, token), supplier=supplier or "", status=status or "",
        upload_error=upload_error), status_code=422 if upload_error else 200)


@router.post("/settlements/login", include_in_schema=False)
async def page_login(request: Request) -> Response:
    form = await _form(request)
    client_id, secret = form.get("client_id", "").strip(), form.get("client_secret", "")
    if not client_id or not secret:
        return _login_page("Enter the client id and the secret.", 422)
    try:
        principal = await authenticate_client(request.app.state.pg, client_id, secret)
    except HTTPException:
        return _login_page("Those credentials are not valid.", 401)
    if principal.role != "finance":
        return _login_page("These pages are for the finance role only.", 403)
    token, expires_in = issue_token(request.app.state.settings, principal)
    response = RedirectResponse("/settlements", status_code=303)
    response.set_cookie(COOKIE, token, max_age=expires_in, httponly=True, samesite="strict", path="/settlements",
                        secure=request.url.scheme == "https")
    return response


@router.post("/settlements/logout", include_in_schema=False)
def page_logout() -> Response:
    response = RedirectResponse("/settlements", status_code=303)
    response.delete_cookie(COOKIE, path="/settlements")
    return response


@router.get("/settlements/cycles/{cycle_id}", include_in_schema=False)
def page_cycle(request: Request, cycle_id: int, cls: str | None = Query(None, alias="class"),
               min_amount: str | None = None, status: str | None = None, message: str | None = None) -> Response:
    session = _page_principal(request)
    if session is None:
        return RedirectResponse("/settlements", status_code=303)
    principal, token = session
    engine = _engine(request)
    errors = []
    try:
        amount = _decimal(min_amount, "min_amount")
    except HTTPException:
        amount, errors = None, [f"“{min_amount}” is not an amount; showing every amount."]
    cls = cls if cls in CLASSES else None
    status = status if status in ("open", "resolved") else None
    try:
        cycle = review.get_cycle(engine, cycle_id)
        rows = review.list_discrepancies(engine, cycle_id, cls, None, amount, status)
    except review.ReviewError as error:
        raise _fail(error) from None
    return HTMLResponse(templates.get_template("settlement_cycle.html").render(
        cycle=cycle, discrepancies=rows, classes=CLASSES, principal=principal, csrf=_csrf(request, token),
        filters={"class": cls or "", "min_amount": min_amount or "", "status": status or ""}, errors=errors,
        message=message, journal=review.journal_entries(engine, cycle_id)))


@router.post("/settlements/discrepancies/{discrepancy_id}/resolve", include_in_schema=False)
async def page_resolve(request: Request, discrepancy_id: int) -> Response:
    from starlette.concurrency import run_in_threadpool

    form = await _form(request)
    principal = _checked_session(request, form)
    cycle_id = form.get("cycle_id", "")
    try:
        row = await run_in_threadpool(review.resolve_discrepancy, _engine(request), discrepancy_id,
                                      form.get("note", ""), principal.client_id)
        message = f"Discrepancy {row['supplier_ref'] or row['id']} resolved."
        cycle_id = str(row["cycle_id"])
    except review.ReviewError as error:
        message = f"Not resolved: {error.message}"
    if not cycle_id.isdigit():
        return RedirectResponse("/settlements", status_code=303)
    return RedirectResponse(f"/settlements/cycles/{cycle_id}?{urlencode({'message': message})}", status_code=303)


@router.post("/settlements/cycles/{cycle_id}/approve", include_in_schema=False)
async def page_approve(request: Request, cycle_id: int) -> Response:
    from starlette.concurrency import run_in_threadpool

    form = await _form(request)
    principal = _checked_session(request, form)
    try:
        await run_in_threadpool(review.approve_cycle, _engine(request), cycle_id, principal.client_id)
        message = "Cycle approved."
    except review.ReviewError as error:
        message = f"Not approved: {error.message}"
    return RedirectResponse(f"/settlements/cycles/{cycle_id}?{urlencode({'message': message})}", status_code=303)


@router.post("/settlements/statements", include_in_schema=False)
async def page_upload(request: Request) -> Response:
    """The page's statement upload: the CSV text arrives in a form field (the page's file picker fills it)."""
    from starlette.concurrency import run_in_threadpool

    form = await _form(request, limit=3 * MAX_STATEMENT_BYTES)
    principal = _checked_session(request, form)
    supplier, period = form.get("supplier", "").strip(), form.get("period_start", "").strip()
    try:
        period_start = dt.date.fromisoformat(period)
    except ValueError:
        return _cycles_page(request, upload_error=f"period_start: {period!r} is not a date (YYYY-MM-DD)")
    try:
        result = await run_in_threadpool(_upload_and_run, request, supplier, period_start, form.get("content", ""),
                                         form.get("filename") or None, True, principal.client_id)
    except HTTPException as error:
        detail = error.detail if isinstance(error.detail, dict) else {"message": str(error.detail)}
        return _cycles_page(request, upload_error=detail.get("message", "upload refused"))
    cycle = result["cycle"]
    message = (f"Statement #{result['id']} ({result['lines']} lines) reconciled: revision {cycle['revision']}"
               f" ({cycle['action'].replace('_', ' ')}), {cycle['counts']['discrepancies']} discrepancies.")
    return RedirectResponse(f"/settlements/cycles/{cycle['id']}?{urlencode({'message': message})}", status_code=303)


@router.get("/settlements/cycles/{cycle_id}/export.csv", include_in_schema=False)
def page_export(request: Request, cycle_id: int) -> Response:
    if _page_principal(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    return _export(request, cycle_id)


@router.get("/settlements/cycles/{cycle_id}/report", include_in_schema=False)
def page_report(request: Request, cycle_id: int) -> Response:
    if _page_principal(request) is None:
        return RedirectResponse("/settlements", status_code=303)
    return _report(request, cycle_id)
