"""Partner billing over JSON: partners read their own statements, invoices and credit (another partner's id is 404,
as for orders); finance issues invoices and credit notes, records payments and bank statements, reads ageing.

Thin: every rule and query is in `core.billing`; the routes parse, call, and map `BillingError`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, actor, require_role
from api.limits import limited_partner
from api.schemas import ErrorResponse, MoneyOut
from core.billing import ageing, invoices, payments, statements, store
from core.billing.store import BillingError
from core.db import engine_for
from core.orders import credit

router = APIRouter(tags=["billing"])
finance = require_role("finance")
ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 422)}
MAX_BANK_BYTES = 5 * 1024 * 1024
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Amount = Field(pattern=r"^\d{1,13}(\.\d{1,4})?$", description="a decimal string, e.g. \"1295.43\"")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IssueRequest(Strict):
    partner_id: uuid.UUID
    period_start: dt.date = Field(description="the cycle's first day (a Monday)")
    issued_on: dt.date | None = Field(None, description="default today; on or after the cycle's end")


class CreditNoteRequest(Strict):
    reason: str = Field(min_length=1, max_length=500)
    amount: str | None = Field(None, pattern=r"^\d{1,13}(\.\d{1,4})?$",
                               description="net amount to credit (before tax); omitted: all that is open")
    issued_on: dt.date | None = None


class PaymentRequest(Strict):
    amount: str = Amount
    currency: str = Field(pattern="^[A-Z]{3}$")
    received_on: dt.date | None = Field(None, description="default today")
    invoice: str | None = Field(None, max_length=40, description="the invoice it pays (number or id)")
    partner_id: uuid.UUID | None = Field(None, description="when no invoice is named: the partner who paid")
    reference: str = Field("", max_length=200)


class BankLineDecision(Strict):
    invoice: str | None = Field(None, max_length=40)
    partner_id: uuid.UUID | None = None
    ignore_note: str | None = Field(None, max_length=500)


class TaxRate(Strict):
    rate: str = Field(pattern=r"^0(\.\d{1,4})?$", description="a fraction, e.g. \"0.06\"")
    label: str = Field("VAT", min_length=1, max_length=40)


class ProfileRequest(Strict):
    country: str | None = Field(None, pattern="^[A-Z]{2}$")
    currency: str | None = Field(None, pattern="^[A-Z]{3}$")
    terms_days: int | None = Field(None, ge=0, le=365)
    entity: str | None = Field(None, pattern="^[A-Z0-9]{2,10}$")
    name: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=500)


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


def _fail(error: BillingError) -> HTTPException:
    status = {"not_found": 404, "conflict": 409, "invalid": 422}[error.code]
    detail = {"code": error.code if error.code != "invalid" else "validation_error", "message": error.message}
    if error.field:
        detail["field"] = error.field
    return HTTPException(status, detail=detail)


async def _call(function, *args, **kwargs):
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except BillingError as error:
        raise _fail(error) from None


def _with_links(document: dict, prefix: str) -> dict:
    return {**document, "pdf_url": f"{prefix}/{document['id']}/pdf"}


def _pdf(found: tuple[str, bytes] | None) -> Response:
    if found is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such invoice"})
    name, content = found
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


# --- partners: their own documents ---------------------------------------------------------------------------

@router.get("/v1/statements", summary="The partner's weekly statements, newest first", responses=ERRORS)
async def partner_statements(request: Request, period_start: dt.date | None = None,
                             principal: Principal = Depends(limited_partner)) -> JSONResponse:
    rows = await _call(statements.list_statements, _engine(request), principal.partner_id, period_start)
    return JSONResponse({"statements": rows})


@router.get("/v1/statements/{statement_id}", summary="One of the partner's statements, with its lines",
            responses=ERRORS)
async def partner_statement(statement_id: RowId, request: Request,
                            principal: Principal = Depends(limited_partner)) -> JSONResponse:
    found = await _call(statements.get_statement, _engine(request), statement_id, principal.partner_id)
    if found is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such statement"})
    return JSONResponse(found)


class CreditOut(BaseModel):
    credit_limit: MoneyOut
    credit_used: MoneyOut = Field(description="held by the partner's orders pending, in review or confirmed, and "
                                              "not yet paid: what a new order is checked against")
    credit_available: MoneyOut = Field(description="the limit less what is used (negative once a limit is lowered "
                                                   "below it); an order above it is refused with 402")


@router.get("/v1/credit", summary="The partner's credit: its limit, what its orders hold of it, what is left",
            response_model=CreditOut, responses=ERRORS)
async def partner_credit(request: Request, principal: Principal = Depends(limited_partner)) -> JSONResponse:
    return JSONResponse(await _call(credit.partner_credit, _engine(request), principal.partner_id))


@router.get("/v1/invoices", summary="The partner's invoices and credit notes", responses=ERRORS)
async def partner_invoices(request: Request, kind: Literal["invoice", "credit_note"] | None = None,
                           principal: Principal = Depends(limited_partner)) -> JSONResponse:
    rows = await _call(invoices.list_documents, _engine(request), principal.partner_id, kind)
    return JSONResponse({"invoices": [_with_links(r, "/v1/invoices") for r in rows]})


@router.get("/v1/invoices/{document_id}", summary="One of the partner's invoices or credit notes (JSON; PDF linked)",
            responses=ERRORS)
async def partner_invoice(document_id: uuid.UUID, request: Request,
                          principal: Principal = Depends(limited_partner)) -> JSONResponse:
    found = await _call(invoices.get_document, _engine(request), str(document_id), principal.partner_id)
    if found is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such invoice"})
    return JSONResponse(_with_links(found, "/v1/invoices"))


@router.get("/v1/invoices/{document_id}/pdf", summary="The invoice as issued (PDF)",
            responses={200: {"content": {"application/pdf": {}}}, **ERRORS})
async def partner_invoice_pdf(document_id: uuid.UUID, request: Request,
                              principal: Principal = Depends(limited_partner)) -> Response:
    return _pdf(await _call(invoices.document_pdf, _engine(request), str(document_id), principal.partner_id))


# --- finance ---------------------------------------------------------------------------------------------------

@router.get("/v1/billing/statements", summary="Partner statements, latest revision each (finance)",
            responses=ERRORS)
async def finance_statements(request: Request, period_start: dt.date | None = None,
                             partner_id: uuid.UUID | None = None,
                             principal: Principal = Depends(finance)) -> JSONResponse:
    rows = await _call(statements.list_statements, _engine(request), str(partner_id) if partner_id else None,
                       period_start)
    return JSONResponse({"statements": rows})


@router.get("/v1/billing/statements/{statement_id}", summary="One statement with its lines (finance)",
            responses=ERRORS)
async def finance_statement(statement_id: RowId, request: Request,
                            principal: Principal = Depends(finance)) -> JSONResponse:
    found = await _call(statements.get_statement, _engine(request), statement_id)
    if found is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such statement"})
    return JSONResponse(found)


@router.post("/v1/billing/invoices", status_code=201, summary="Issue a partner's invoice for a cycle (finance)",
             responses=ERRORS)
async def finance_issue(body: IssueRequest, request: Request,
                        principal: Principal = Depends(finance)) -> JSONResponse:
    document = await _call(invoices.issue_invoice, _engine(request), request.app.state.settings,
                           str(body.partner_id), body.period_start, actor(principal), body.issued_on)
    return JSONResponse(_with_links(document, "/v1/billing/invoices"), status_code=201)


@router.get("/v1/billing/invoices", summary="Invoices and credit notes (finance)", responses=ERRORS)
async def finance_documents(request: Request, partner_id: uuid.UUID | None = None,
                            kind: Literal["invoice", "credit_note"] | None = None,
                            period_start: dt.date | None = None,
                            principal: Principal = Depends(finance)) -> JSONResponse:
    rows = await _call(invoices.list_documents, _engine(request), str(partner_id) if partner_id else None, kind,
                       period_start)
    return JSONResponse({"invoices": [_with_links(r, "/v1/billing/invoices") for r in rows]})


@router.get("/v1/billing/invoices/export.csv", summary="Invoices and credit notes as CSV, one row per line")
async def finance_export(request: Request, partner_id: uuid.UUID | None = None,
                         period_start: dt.date | None = None,
                         principal: Principal = Depends(finance)) -> PlainTextResponse:
    engine = _engine(request)

    def export() -> str:
        rows = invoices.list_documents(engine, str(partner_id) if partner_id else None, None, period_start)
        return invoices.documents_csv(engine, rows)

    return PlainTextResponse(await _call(export), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="invoices.csv"'})


@router.get("/v1/billing/invoices/{key}", summary="One invoice or credit note by id or number (finance)",
            responses=ERRORS)
async def finance_document(key: str, request: Request, principal: Principal = Depends(finance)) -> JSONResponse:
    found = await _call(invoices.get_document, _engine(request), key)
    if found is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such invoice"})
    return JSONResponse(_with_links(found, "/v1/billing/invoices"))


@router.get("/v1/billing/invoices/{key}/pdf", summary="A document as issued (PDF, finance)",
            responses={200: {"content": {"application/pdf": {}}}, **ERRORS})
async def finance_pdf(key: str, request: Request, principal: Principal = Depends(finance)) -> Response:
    return _pdf(await _call(invoices.document_pdf, _engine(request), key))


@router.post("/v1/billing/invoices/{key}/credit-notes", status_code=201,
             summary="Correct an invoice with a credit note (finance)", responses=ERRORS)
async def finance_credit_note(key: str, body: CreditNoteRequest, request: Request,
                              principal: Principal = Depends(finance)) -> JSONResponse:
    document = await _call(invoices.issue_credit_note, _engine(request), request.app.state.settings, key,
                           body.reason, actor(principal), Decimal(body.amount) if body.amount else None,
                           body.issued_on)
    return JSONResponse(_with_links(document, "/v1/billing/invoices"), status_code=201)


@router.post("/v1/billing/payments", status_code=201, summary="Record a payment (finance)", responses=ERRORS)
async def finance_payment(body: PaymentRequest, request: Request,
                          principal: Principal = Depends(finance)) -> JSONResponse:
    payment = await _call(payments.record_payment, _engine(request), str(body.partner_id) if body.partner_id else None,
                          body.amount, body.currency, body.received_on or dt.date.today(), actor(principal),
                          body.reference, body.invoice)
    return JSONResponse(payment, status_code=201)


@router.post("/v1/billing/bank-statements", status_code=201,
             summary="Import a bank statement CSV (booked_on,amount,currency,reference[,counterparty]); the body is"
                     " the CSV text", responses=ERRORS)
async def finance_bank_statement(request: Request, filename: str | None = Query(None, max_length=200),
                                 principal: Principal = Depends(finance)) -> JSONResponse:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BANK_BYTES:
            raise HTTPException(413, detail={"code": "payload_too_large",
                                             "message": f"bank statement larger than {MAX_BANK_BYTES} bytes"})
    try:
        text = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, detail={"code": "validation_error", "field": "body",
                                         "message": "the bank statement is not UTF-8 text"}) from None
    result = await _call(payments.import_bank_statement, _engine(request), text, filename, actor(principal))
    return JSONResponse(result, status_code=201)


@router.get("/v1/billing/bank-lines", summary="Bank statement lines, by default those waiting for review",
            responses=ERRORS)
async def finance_bank_lines(request: Request,
                             status: Literal["unmatched", "matched", "assigned", "ignored"] | None = "unmatched",
                             principal: Principal = Depends(finance)) -> JSONResponse:
    return JSONResponse({"lines": await _call(payments.list_bank_lines, _engine(request), status)})


@router.post("/v1/billing/bank-lines/{line_id}/review",
             summary="Pay an invoice with an unmatched line, credit a partner with it, or ignore it (finance)",
             responses=ERRORS)
async def finance_bank_line(line_id: RowId, body: BankLineDecision, request: Request,
                            principal: Principal = Depends(finance)) -> JSONResponse:
    return JSONResponse(await _call(
        payments.review_bank_line, _engine(request), line_id, actor(principal), invoice=body.invoice,
        partner_id=str(body.partner_id) if body.partner_id else None, ignore_note=body.ignore_note))


@router.get("/v1/billing/ageing", summary="Open invoices by days past due, credit, DSO (finance)",
            responses=ERRORS)
async def finance_ageing(request: Request, as_of: dt.date | None = None, partner_id: uuid.UUID | None = None,
                         format: Literal["json", "csv"] = "json",
                         principal: Principal = Depends(finance)) -> Response:
    report = await _call(ageing.ageing, _engine(request), as_of, str(partner_id) if partner_id else None)
    if format == "csv":
        name = f"ageing-{report['as_of']}.csv"
        return PlainTextResponse(ageing.ageing_csv(report), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return JSONResponse(report)


@router.get("/v1/billing/tax-rates", summary="Tax rate per partner country (finance)", responses=ERRORS)
async def finance_tax_rates(request: Request, principal: Principal = Depends(finance)) -> JSONResponse:
    return JSONResponse({"tax_rates": await _call(store.tax_rates, _engine(request))})


@router.put("/v1/billing/tax-rates/{country}", summary="Set a country's tax rate (finance)", responses=ERRORS)
async def finance_set_tax_rate(country: str, body: TaxRate, request: Request,
                               principal: Principal = Depends(finance)) -> JSONResponse:
    return JSONResponse(await _call(store.set_tax_rate, _engine(request), country.upper(), Decimal(body.rate),
                                    body.label, actor(principal)))


@router.put("/v1/billing/profiles/{partner_id}", summary="A partner's billing country, currency, terms (finance)",
            responses=ERRORS)
async def finance_profile(partner_id: uuid.UUID, body: ProfileRequest, request: Request,
                          principal: Principal = Depends(finance)) -> JSONResponse:
    account = await _call(store.set_profile, _engine(request), str(partner_id), request.app.state.settings,
                          **body.model_dump(), who=actor(principal))
    return JSONResponse(account.__dict__)
