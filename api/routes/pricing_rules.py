"""Operator API for pricing rules (role `operator`): list, create, update, retire, history, preview.

Routes parse, call `core.pricing_rules`, and map its `RuleError` to a 4xx JSON body naming the field.
A change reaches new quotes within a second (NOTIFY → every API process drops its cached rules) and
never reprices a quote or an order already made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, actor, require_role
from core import pricing_preview
from core import pricing_rules as pr
from core.db import engine_for

router = APIRouter(tags=["pricing rules"])
operator = require_role("operator")


class RuleChange(BaseModel):
    """Fields of a rule; on update only the fields sent change."""

    model_config = ConfigDict(extra="forbid")
    level: str | None = Field(None, pattern="^(platform|partner)$", description="platform or partner")
    partner_id: str | None = Field(None, description="Only this partner (partner rules)")
    partner_tier: str | None = Field(None, max_length=40, description="Only partners of this tier")
    supplier_code: str | None = Field(None, max_length=20)
    city: str | None = Field(None, max_length=100)
    star_min: Decimal | None = Field(None, ge=0, le=5)
    star_max: Decimal | None = Field(None, ge=0, le=5)
    date_from: dt.date | None = Field(None, description="First check-in date the rule applies to")
    date_to: dt.date | None = Field(None, description="Last check-in date the rule applies to")
    markup_pct: Decimal | None = Field(None, ge=pr.MIN_PCT, le=pr.MAX_PCT, description="Percent of the amount")
    markup_fixed: Decimal | None = Field(None, ge=0, description="Per room-night, in fixed_currency")
    fixed_currency: str | None = Field(None, min_length=3, max_length=3)
    priority: int | None = Field(None, ge=-1000, le=1000)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str
    hotel_id: str = Field(..., min_length=1, max_length=100)
    check_in: dt.date
    check_out: dt.date
    rooms: int = Field(1, ge=1, le=9)
    currency: str | None = Field(None, min_length=3, max_length=3, description="Default: the partner's currency")


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


def _error(error: pr.RuleError) -> HTTPException:
    code = {404: "not_found", 409: "conflict"}.get(error.status, "validation_error")
    return HTTPException(error.status, detail={"code": code, "message": str(error),
                                               "fields": [{"field": error.field, "reason": error.reason}]})


async def _call(function, *args):
    try:
        return await asyncio.to_thread(function, *args)
    except pr.RuleError as error:
        raise _error(error) from None


@router.get("/v1/admin/pricing-rules", summary="Pricing rules (active; retired too on request)")
async def list_rules(request: Request, include_retired: bool = Query(False),
                     _: Principal = Depends(operator)) -> dict:
    return {"items": await _call(pr.list_rules, _engine(request), include_retired)}


@router.post("/v1/admin/pricing-rules", status_code=201, summary="Create a pricing rule")
async def create_rule(change: RuleChange, request: Request, principal: Principal = Depends(operator)) -> dict:
    values = change.model_dump(exclude_unset=True)
    if "level" not in values:
        raise _error(pr.RuleError("level", "required: platform or partner"))
    return await _call(pr.create_rule, _engine(request), values, actor(principal),
                       request.app.state.settings.default_currency)


@router.get("/v1/admin/pricing-rules/{rule_id}", summary="One pricing rule")
async def get_rule(rule_id: int, request: Request, _: Principal = Depends(operator)) -> dict:
    return await _call(pr.get_rule, _engine(request), rule_id)


@router.patch("/v1/admin/pricing-rules/{rule_id}", summary="Change an active pricing rule (versioned)")
async def update_rule(rule_id: int, change: RuleChange, request: Request,
                      principal: Principal = Depends(operator)) -> dict:
    return await _call(pr.update_rule, _engine(request), rule_id, change.model_dump(exclude_unset=True),
                       actor(principal), request.app.state.settings.default_currency)


@router.delete("/v1/admin/pricing-rules/{rule_id}", summary="Retire a pricing rule (kept, with its history)")
async def retire_rule(rule_id: int, request: Request, principal: Principal = Depends(operator)) -> dict:
    return await _call(pr.retire_rule, _engine(request), rule_id, actor(principal))


@router.get("/v1/admin/pricing-rules/{rule_id}/history", summary="Every change of a rule: who, when, before/after")
async def rule_history(rule_id: int, request: Request, _: Principal = Depends(operator)) -> dict:
    await _call(pr.get_rule, _engine(request), rule_id)
    return {"rule_id": rule_id, "versions": await _call(pr.rule_history, _engine(request), rule_id)}


@router.post("/v1/admin/pricing-rules/preview",
             summary="What a partner would pay for a hotel on these nights: net, each step, sell")
async def preview(body: PreviewIn, request: Request, _: Principal = Depends(operator)) -> dict:
    query = pricing_preview.PreviewRequest(body.partner_id, body.hotel_id, body.check_in, body.check_out, body.rooms,
                              body.currency)
    settings = request.app.state.settings
    return await _call(pricing_preview.preview, _engine(request), query, settings.default_currency,
                       settings.fx_max_age_days)
