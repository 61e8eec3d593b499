"""Partner orders: create (idempotent), read, list (paged), cancel. Every lookup is scoped to the
caller's partner: another partner's order is indistinguishable from a missing one (404)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from api.auth import Principal, require_role
from api.deps import api_actor
from api.limits import LimitedRoute, limited_partner
from api.schemas import CancelRequest, ErrorResponse, OrderOut, OrderPage, OrderRequest, ReviewDecision
from core.orders import allotment, idempotency
from core.orders.service import OrderError, cancel_order, create_order, get_order, list_orders, review_order
from core.tracing import start_span

router = APIRouter(prefix="/v1/orders", tags=["orders"], route_class=LimitedRoute)
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 429, 503)}
CREATE_ERRORS = {code: {"model": ErrorResponse} for code in (402, 409)}
Status = Literal["PENDING", "REVIEW", "CONFIRMED", "CANCELLED", "EXPIRED", "FAILED"]


def _error(error: OrderError) -> HTTPException:
    headers = {"Retry-After": "60"} if error.status == 429 else None
    return HTTPException(error.status, detail=error.body(), headers=headers)


def _error_body(error: OrderError) -> dict:
    from api.errors import error_body

    return error_body(error.status, error.code, error.message, **error.extra)


@router.post("", status_code=201, summary="Book an offer of one of the partner's unexpired quotes",
             responses={201: {"model": OrderOut}, **ERRORS, **CREATE_ERRORS})
async def create(
    body: OrderRequest, request: Request,
    idempotency_key: str = Header(..., alias="Idempotency-Key", min_length=1, max_length=255,
                                  description="unique per order attempt; a retry with the same key and body "
                                              "replays the first answer (kept 24 h)"),
    principal: Principal = Depends(limited_partner),
) -> JSONResponse:
    state = request.app.state
    payload = body.model_dump(mode="json")
    claim = await idempotency.claim(state.pg, principal.partner_id, idempotency_key, idempotency.request_hash(payload))
    if claim.kind == "replay":
        return JSONResponse(claim.body, status_code=claim.status, headers={"Idempotent-Replayed": "true"})
    if claim.kind == "mismatch":
        raise HTTPException(422, detail={"code": "idempotency_key_reused",
                                         "message": "this Idempotency-Key was used with a different request body"})
    if claim.kind == "orphaned":  # the first request died after creating its order: answer with that order
        try:
            order = await get_order(state, principal.partner_id, claim.order_id)
        except OrderError as error:
            raise _error(error) from None
        await idempotency.complete(state.pg, principal.partner_id, idempotency_key, 201, order)
        return JSONResponse(order, status_code=201, headers={"Idempotent-Replayed": "true"})
    if claim.kind == "in_progress":
        raise HTTPException(409, detail={"code": "idempotency_in_progress",
                                         "message": "a request with this Idempotency-Key is still being processed"})
    try:
        with start_span("order.create", partner=str(principal.partner_id)):  # the supplier calls are its children
            status, order = await create_order(state, principal.partner_id, principal.client_id, payload,
                                               idempotency_key)
    except OrderError as error:
        if error.status in (429, 503) and "order_id" not in error.extra:
            await idempotency.release(state.pg, principal.partner_id, idempotency_key)  # nothing happened: retryable
        else:
            await idempotency.complete(state.pg, principal.partner_id, idempotency_key, error.status,
                                       _error_body(error))
        raise _error(error) from None
    except BaseException:
        await _settle_unexpected(state, principal.partner_id, idempotency_key)
        raise
    await idempotency.complete(state.pg, principal.partner_id, idempotency_key, status, order)
    return JSONResponse(order, status_code=status)


async def _settle_unexpected(state, partner_id: str, key: str) -> None:
    """After an unexpected failure the key is released for a retry only if no order was created; an order
    that was created stays linked to the key (a retry answers with it) and is settled by the
    resolution/expiry path, by our reference — never booked twice."""
    try:
        await idempotency.release_unlinked(state.pg, partner_id, key)
    except Exception:  # the original error matters more
        pass


@router.get("", summary="The partner's orders, newest first (cursor paged)",
            responses={200: {"model": OrderPage}, **ERRORS})
async def index(
    request: Request,
    status: Status | None = Query(None),
    date_from: dt.date | None = Query(None, alias="from", description="created on or after this date"),
    date_to: dt.date | None = Query(None, alias="to", description="created on or before this date"),
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(20, ge=1, le=100),
    principal: Principal = Depends(limited_partner),
) -> JSONResponse:
    try:
        page = await list_orders(request.app.state, principal.partner_id, status=status, date_from=date_from,
                                 date_to=date_to, cursor=cursor, limit=limit)
    except OrderError as error:
        raise _error(error) from None
    return JSONResponse(page)


@router.get("/flagged", summary="Operator: unconfirmed orders whose hold a sync found above the supplier's allotment",
            responses=ERRORS)
async def flagged(request: Request, limit: int = Query(100, ge=1, le=1000),
                  _: Principal = Depends(require_role("operator"))) -> JSONResponse:
    async with request.app.state.pg.acquire() as conn:
        items = await allotment.flagged_orders(conn, limit=limit)
    return JSONResponse({"items": items})


@router.get("/{order_id}", summary="One of the partner's orders", responses={200: {"model": OrderOut}, **ERRORS})
async def show(order_id: uuid.UUID, request: Request, principal: Principal = Depends(limited_partner)) -> JSONResponse:
    try:
        return JSONResponse(await get_order(request.app.state, principal.partner_id, str(order_id)))
    except OrderError as error:
        raise _error(error) from None


@router.post("/{order_id}/cancel", summary="Cancel an order (fee from its cancellation policy)",
             responses={200: {"model": OrderOut}, **ERRORS, 409: {"model": ErrorResponse},
                        503: {"model": ErrorResponse}})
async def cancel(order_id: uuid.UUID, request: Request, body: CancelRequest | None = None,
                 principal: Principal = Depends(limited_partner)) -> JSONResponse:
    try:
        order = await cancel_order(request.app.state, principal.partner_id, str(order_id), principal.client_id)
    except OrderError as error:
        raise _error(error) from None
    return JSONResponse(order)


@router.post("/{order_id}/review", summary="Operator: approve (book now) or reject an order held for review",
             responses={200: {"model": OrderOut}, 201: {"model": OrderOut}, **ERRORS,
                        409: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
async def review(order_id: uuid.UUID, body: ReviewDecision, request: Request,
                 principal: Principal = Depends(require_role("operator"))) -> JSONResponse:
    try:
        status, order = await review_order(request.app.state, str(order_id), body.decision == "approve",
                                           principal.client_id, body.note, staff=api_actor(principal))
    except OrderError as error:
        raise _error(error) from None
    return JSONResponse(order, status_code=status)
