"""Finance's settlement review as a JSON API under /v1/settlements (bearer token, finance role); the pages
under /settlements are api/pages/settlement.py.

The routes are thin: every query and rule lives in `core.settlement.review` and `core.settlement.store`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from api.auth import Principal, require_role
from core.db import engine_for
from core.settlement import review
from core.settlement.csvio import InputError
from core.settlement.engine import CLASSES
from core.settlement.store import upload_statement

router = APIRouter(tags=["settlements"])
finance = require_role("finance")
MAX_STATEMENT_BYTES = 20 * 1024 * 1024


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


def review_failure(error: review.ReviewError) -> HTTPException:
    status = {"not_found": 404, "conflict": 409, "invalid": 422}[error.code]
    detail = {"code": error.code if error.code != "invalid" else "validation_error", "message": error.message}
    if error.field:
        detail["field"] = error.field
    return HTTPException(status, detail=detail)


def decimal_param(value: str | None, field: str) -> Decimal | None:
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
        raise review_failure(error) from None


@router.get("/v1/settlements/cycles/{cycle_id}/discrepancies", summary="A cycle's discrepancies (finance)")
def api_discrepancies(request: Request, cycle_id: int, cls: str | None = Query(None, alias="class"),
                      supplier: str | None = Query(None, max_length=20), min_amount: str | None = Query(None),
                      status: str | None = Query(None, pattern="^(open|resolved)$"),
                      limit: int = Query(500, ge=1, le=10_000), offset: int = Query(0, ge=0),
                      principal: Principal = Depends(finance)) -> dict:
    try:
        rows = review.list_discrepancies(_engine(request), cycle_id, _class(cls), supplier,
                                         decimal_param(min_amount, "min_amount"), status, limit, offset)
    except review.ReviewError as error:
        raise review_failure(error) from None
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
        raise review_failure(error) from None


@router.post("/v1/settlements/cycles/{cycle_id}/approve", summary="Approve a reconciled cycle (finance)")
def api_approve(request: Request, cycle_id: int, principal: Principal = Depends(finance)) -> dict:
    try:
        return review.approve_cycle(_engine(request), cycle_id, principal.client_id)
    except review.ReviewError as error:
        raise review_failure(error) from None


@router.get("/v1/settlements/cycles/{cycle_id}/export.csv", summary="Export a cycle's discrepancies as CSV")
def api_export(request: Request, cycle_id: int, principal: Principal = Depends(finance)) -> Response:
    return export_csv(_engine(request), cycle_id)


@router.get("/v1/settlements/cycles/{cycle_id}/report", summary="One-page printable report (HTML)")
def api_report(request: Request, cycle_id: int, principal: Principal = Depends(finance)) -> HTMLResponse:
    from api.pages.settlement import report_page  # the page module imports this one

    try:
        return report_page(_engine(request), cycle_id)
    except review.ReviewError as error:
        raise review_failure(error) from None


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
    try:
        result = await run_in_threadpool(upload_statement, _engine(request), request.app.state.settings, supplier,
                                         period_start, text, filename, principal.client_id, reconcile)
    except review.ReviewError as error:
        raise review_failure(error) from None
    except InputError as error:
        raise statement_refused(error) from None
    return JSONResponse(result, status_code=201)


def statement_refused(error: InputError) -> HTTPException:
    return HTTPException(422, detail={"code": "validation_error", "message": str(error), "line": error.line,
                                      "column": error.column})


def export_csv(engine, cycle_id: int) -> Response:
    """A cycle's discrepancies as a CSV download (the API's and the page's)."""
    try:
        cycle = review.get_cycle(engine, cycle_id)
        text = review.export_csv(engine, cycle_id)
    except review.ReviewError as error:
        raise review_failure(error) from None
    name = f"settlement-{cycle['supplier_code']}-{cycle['period_start']}-r{cycle['revision']}.csv"
    return PlainTextResponse(text, media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
