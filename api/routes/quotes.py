"""`POST /v1/quotes` and `GET /v1/quotes/{quote_id}` for partners.

The hot path: one Redis pipeline (rate-limit counter + product sets), one MGET, one PostgreSQL
insert. The body is serialised by hand (documented by `QuoteResponse`) because a response_model
over many offers costs more than the rest of the request.
"""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from api.auth import Principal, require_role
from api.limits import LimitedRoute, check_rate_result, limited_partner, rate_limit_commands, rate_subject
from api.schemas import ErrorResponse, QuoteRequest, QuoteResponse
from core.hotcache import nights_of, product_night_keys
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
_partner = require_role("partner")
ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 429)}


def _json(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.post("", summary="Priced offers for a city or hotels, cheapest first (no supplier call)",
             status_code=200, responses={200: {"model": QuoteResponse}, **ERRORS})
async def create_quote(body: QuoteRequest, request: Request, principal: Principal = Depends(_partner)) -> Response:
    state = request.app.state
    caches = caches_for(state)
    countries: list[str] = []
    if body.city is not None:
        countries = [body.country.upper()] if body.country else await city_countries(state.pg, caches, body.city)
    keys = tuple(product_set_keys(body.city, countries, body.hotel_ids))
    # One Redis round trip when the product set is cached: rate-limit counter + every night of every product.
    products = caches.product_sets.get(keys)
    pipe = state.redis.pipeline(transaction=False)
    limit, window_ms = rate_limit_commands(pipe, request, rate_subject(principal))
    if products is None:
        for key in keys:
            pipe.smembers(key)
    elif products:
        # The night keys of a cached product set and stay are built once (the set itself lives 2 s).
        stay_key = (keys, body.check_in, body.check_out)
        cached = caches.night_keys.get(stay_key)
        if cached is None or cached[0] is not products:
            cached = (products, product_night_keys(products, nights_of(body.check_in, body.check_out)))
            caches.night_keys.put(stay_key, cached)
        pipe.mget(cached[1])
    results = await pipe.execute()
    check_rate_result(int(results[0]), limit, window_ms)
    values = None
    if products is None:
        products = products_from_sets(results[2:], body.hotel_ids)
        caches.product_sets.put(keys, products)
    elif products:
        values = results[2]
    try:
        quote = await build_quote(
            state.pg, caches, state.redis, partner_id=principal.partner_id, request=body.model_dump(),
            products=products, default_currency=state.settings.default_currency, values=values,
        )
    except QuoteError as error:
        raise HTTPException(error.status, detail={"code": error.code, "message": error.message}) from None
    return _json(quote)


@router.get("/{quote_id}", summary="One of the partner's own quotes",
            responses={200: {"model": QuoteResponse}, **ERRORS})
async def get_quote(quote_id: uuid.UUID, request: Request, principal: Principal = Depends(limited_partner)) -> Response:
    await flush_quotes(request.app.state)
    quote = await stored_quote(request.app.state.pg, principal.partner_id, str(quote_id))
    if quote is None:
        raise HTTPException(404, detail={"code": "not_found", "message": "no such quote"})
    return _json(quote)
