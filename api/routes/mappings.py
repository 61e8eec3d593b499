"""Review queue for hotel mappings (role `operator` only; partners get 403).

GET  /v1/mappings/reviews                       pending reviews with candidates and feature contributions
POST /v1/mappings/reviews/{mapping_id}/accept   {"hotel_id": "H0000042"}
POST /v1/mappings/reviews/{mapping_id}/reject
POST /v1/mappings/reviews/{mapping_id}/new      add the supplier hotel as a master hotel and map onto it

Room mappings (a supplier room's room group within its hotel):
GET  /v1/mappings/room-reviews                          pending room mappings with every group of the hotel
POST /v1/mappings/room-reviews/{mapping_id}/accept      the proposed group is right
POST /v1/mappings/room-reviews/{mapping_id}/assign      {"same_as": 17}: the same product as room mapping 17
POST /v1/mappings/room-reviews/{mapping_id}/separate    a product of its own
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, actor, require_role
from core.db import engine_for
from core.matching import store
from core.rooms import store as room_store

router = APIRouter(prefix="/v1/mappings/reviews", tags=["mappings"])
room_router = APIRouter(prefix="/v1/mappings/room-reviews", tags=["mappings"])
operator = require_role("operator")


class Accept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hotel_id: str = Field(..., min_length=1, max_length=64, description="The master hotel this supplier hotel is")


class SameAs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    same_as: int = Field(..., ge=1, description="A room mapping of the same hotel that is the same product")


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


async def _call(fn, *args):
    try:
        return await asyncio.to_thread(fn, *args)
    except store.ReviewError as error:
        raise HTTPException(error.status, detail={"code": error.code, "message": error.message}) from None


@router.get("")
async def list_pending(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
                       supplier: str | None = Query(None, max_length=32),
                       principal: Principal = Depends(operator)) -> dict:
    items = await _call(store.list_reviews, _engine(request), limit, offset, supplier)
    return {"items": items, "limit": limit, "offset": offset}


@router.post("/{mapping_id}/accept")
async def accept(mapping_id: int, body: Accept, request: Request, principal: Principal = Depends(operator)) -> dict:
    return await _call(store.accept, _engine(request), mapping_id, body.hotel_id, actor(principal))


@router.post("/{mapping_id}/reject")
async def reject(mapping_id: int, request: Request, principal: Principal = Depends(operator)) -> dict:
    return await _call(store.reject, _engine(request), mapping_id, actor(principal))


@router.post("/{mapping_id}/new")
async def mark_new(mapping_id: int, request: Request, principal: Principal = Depends(operator)) -> dict:
    return await _call(store.mark_new, _engine(request), mapping_id, actor(principal))


@room_router.get("")
async def list_room_reviews(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
                            supplier: str | None = Query(None, max_length=32),
                            principal: Principal = Depends(operator)) -> dict:
    items = await _call(room_store.list_room_reviews, _engine(request), limit, offset, supplier)
    return {"items": items, "limit": limit, "offset": offset}


@room_router.post("/{mapping_id}/accept")
async def accept_room(mapping_id: int, request: Request, principal: Principal = Depends(operator)) -> dict:
    return await _call(room_store.accept_room, _engine(request), mapping_id, actor(principal))


@room_router.post("/{mapping_id}/assign")
async def assign_room(mapping_id: int, body: SameAs, request: Request,
                      principal: Principal = Depends(operator)) -> dict:
    return await _call(room_store.assign_room, _engine(request), mapping_id, body.same_as,
                       actor(principal))


@room_router.post("/{mapping_id}/separate")
async def separate_room(mapping_id: int, request: Request, principal: Principal = Depends(operator)) -> dict:
    return await _call(room_store.separate_room, _engine(request), mapping_id, actor(principal))
