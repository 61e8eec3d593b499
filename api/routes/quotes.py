"""`POST /v1/quotes` and `GET /v1/quotes/{quote_id}` for partners.

The hot path: the rate-limit count (mostly from this process's block of counts, see `RateCounter`), a Redis
read of product sets or night values (the values and the offers priced from them are reused for
QUOTE_CACHE_MS), one batched PostgreSQL COPY off the request. The body is serialised by hand (documented by
`QuoteResponse`) because a response_model over many offers costs more than the rest of the request.
"""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.auth import Principal
from api.limits import LimitedRoute, limited_partner
from api.schemas import ErrorResponse, QuoteRequest, QuoteResponse
from core.quotes import (
    QuoteError,
    build_quote,
    caches_for,
    city_countries,
    flush_quotes,
    product_set_keys,
    products_from_sets,
    stored_quote,
)

router = APIRouter(prefix="/v1/quotes", tags=["quotes"], route_class=LimitedRoute)
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 429)}


def _json(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.post("", summary="Priced offers for a city or hotels, cheapest first (no supplier call)",
             status_code=200, responses={200: {"model": QuoteResponse}, **ERRORS})
async def create_quote(body: QuoteRequest, request: Request,
                       principal: Principal = Depends(limited_partner)) -> Response:
    state = request.app.state
    caches = caches_for(state)
    countries: list[str] = []
    if body.city is not None:
        countries = [body.country.upper()] if body.country else await city_countries(state.pg, caches, body.city)
    keys = tuple(product_set_keys(body.city, countries, body.hotel_ids))
    # Redis is read only for what this process has not read in the last QUOTE_CACHE_MS: the product sets (one
    # round trip), then every night of every product (another).
    products = caches.product_sets.get(keys)
    if products is None:
        pipe = state.redis.pipeline(transaction=False)
        for key in keys:
            pipe.smembers(key)
        products = products_from_sets(await pipe.execute(), body.hotel_ids)
        caches.product_sets.put(keys, products)
    stay = caches.stay(keys, body.check_in, body.check_out, products) if products else None
    if stay is not None and not stay.fresh(caches.values_ttl_s):
        stay.store(await state.redis.mget(stay.keys))
    try:
        quote = await build_quote(
            state.pg, caches, partner_id=principal.partner_id, request=body.model_dump(),
            products=products, default_currency=state.settings.default_currency,
            values=stay.values if stay else None, priced=stay.priced if stay else None,
        )
    except QuoteError as error:
        raise HTTPException(error.status, detail={"code": error.code, "message": error.message}) from None
    return Response(quote, media_type="application/json")


@router.get("/{quote_id}", summary="One of the partner's own quotes",
            responses={200: {"model": QuoteResponse}, **ERRORS})
async def get_quote(quote_id: uuid.UUID, request: Request, principal: Principal = Depends(limited_partner)) -> Response:
    await flush_quotes(request.app.state)
    quote = await stored_quote(request.app.state.pg, principal.partner_id, str(quote_id))
    if quote is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such quote"})
    return _json(quote)
