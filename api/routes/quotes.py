"""`POST /v1/quotes` and `GET /v1/quotes/{quote_id}` for partners.

The hot path: the rate-limit count (mostly from this process's block of counts, see `RateCounter`), then
`core.quotes.service.answer_quote` (in-process replica of the hot cache, array pricing, one batched PostgreSQL
COPY off the request). The body is serialised by hand (documented by `QuoteResponse`) because a
response_model over many offers costs more than the rest of the request.
"""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.auth import Principal
from api.limits import LimitedRoute, limited_partner
from api.schemas import ErrorResponse, QuoteRequest, QuoteResponse
from core.quotes.caches import QuoteError, flush_quotes
from core.quotes.fallback import SOURCE_HEADER, answered_from_database
from core.quotes.service import answer_quote
from core.quotes.store import stored_quote
from core.tracing import annotate_server_span

router = APIRouter(prefix="/v1/quotes", tags=["quotes"], route_class=LimitedRoute)
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 429, 503)}


def _json(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.post("", summary="Priced offers for a city or hotels, cheapest first (no supplier call)",
             status_code=200, responses={200: {"model": QuoteResponse}, **ERRORS})
async def create_quote(body: QuoteRequest, request: Request,
                       principal: Principal = Depends(limited_partner)) -> Response:
    annotate_server_span(request.scope, partner=str(principal.partner_id))
    try:
        quote = await answer_quote(request.app.state, principal.partner_id, body.model_dump())
    except QuoteError as error:
        raise HTTPException(error.status, detail=error.detail()) from None
    headers = {SOURCE_HEADER: "database"} if answered_from_database() else None  # Redis down: priced from PostgreSQL
    return Response(quote, media_type="application/json", headers=headers)


@router.get("/{quote_id}", summary="One of the partner's own quotes",
            responses={200: {"model": QuoteResponse}, **ERRORS})
async def get_quote(quote_id: uuid.UUID, request: Request, principal: Principal = Depends(limited_partner)) -> Response:
    await flush_quotes(request.app.state)
    quote = await stored_quote(request.app.state.pg, principal.partner_id, str(quote_id))
    if quote is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such quote"})
    return _json(quote)
