"""Operator API for partners and their credentials (role `operator`), over `core/partners_admin.py`.

GET   /v1/admin/partners                         list: status, tier, parent_id, top_level, name; limit/offset
POST  /v1/admin/partners                         create (a sub-agent with parent_id); the secret is shown once
GET   /v1/admin/partners/{id}                    one partner, its sub-agents and credentials
GET   /v1/admin/partners/{id}/sub-agents         its sub-agents (paged)
PATCH /v1/admin/partners/{id}                    tier, credit_limit, currency, commission_pct, name
POST  /v1/admin/partners/{id}/suspend            refused at once (403 partner_suspended), sub-agents too
POST  /v1/admin/partners/{id}/reactivate
POST  /v1/admin/partners/{id}/credentials        another credential (the secret is shown once)
POST  /v1/admin/credentials/{client_id}/rotate   a new secret (shown once); old secret and tokens stop working
POST  /v1/admin/credentials/{client_id}/revoke   the secret and every token issued with it stop working

Every change is audited with the calling operator's client id, in the change's transaction.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import DbEngine, OperatorUser, admin_action, api_actor
from core import partners_admin

router = APIRouter(prefix="/v1/admin", tags=["admin: partners"])


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000, description="Why (kept in the audit log)")


class NewPartner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200)
    tier: str = Field("standard", max_length=30)
    credit_limit: Decimal = Field(Decimal("100000"), description="Decimal amount in `currency`")
    currency: str = Field("CNY", min_length=3, max_length=3, description="ISO-4217 code of the credit limit")
    commission_pct: Decimal = Field(Decimal("0"))
    parent_id: uuid.UUID | None = Field(None, description="Makes a sub-agent of this partner")


class PartnerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: str | None = Field(None, max_length=30)
    credit_limit: Decimal | None = None
    currency: str | None = Field(None, min_length=3, max_length=3)
    commission_pct: Decimal | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    note: str = Field("", max_length=2000)


def access_changed(request: Request) -> None:
    """This process refuses at once; the others on PostgreSQL's notification (`core.access`)."""
    access = getattr(request.app.state, "access", None)
    if access is not None:
        access.mark_stale()


def _credentials(credentials) -> dict:
    return {"client_id": credentials.client_id, "client_secret": credentials.client_secret,
            "partner_id": str(credentials.partner_id) if credentials.partner_id else None,
            "note": "the secret is shown only now; store it safely"}


@router.get("/partners", summary="Partners: filter by status, tier, parent (sub-agents), name; paged")
async def list_partners(engine: DbEngine, _: OperatorUser,
                        status: Literal["active", "suspended"] | None = Query(None),
                        tier: str | None = Query(None, max_length=30),
                        parent_id: uuid.UUID | None = Query(None, description="Only sub-agents of this partner"),
                        top_level: bool = Query(False, description="Only partners without a parent"),
                        name: str | None = Query(None, max_length=200, description="Name contains"),
                        limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict:
    return await admin_action(partners_admin.list_partners, engine, status=status, tier=tier, parent_id=parent_id,
                       top_level=top_level, name=name, limit=limit, offset=offset)


@router.post("/partners", status_code=201, summary="Create a partner or sub-agent and its first credential")
async def create_partner(body: NewPartner, engine: DbEngine, principal: OperatorUser) -> dict:
    partner, credentials = await admin_action(
        partners_admin.create, engine, api_actor(principal), body.name, tier=body.tier,
        credit_limit=body.credit_limit, currency=body.currency, commission_pct=body.commission_pct,
        parent_id=body.parent_id)
    return {"partner": partner, "credentials": _credentials(credentials)}


@router.get("/partners/{partner_id}", summary="One partner with its sub-agents and credentials")
async def get_partner(partner_id: uuid.UUID, engine: DbEngine, _: OperatorUser) -> dict:
    return await admin_action(partners_admin.get_partner, engine, partner_id)


@router.get("/partners/{partner_id}/sub-agents", summary="A partner's sub-agents (paged)")
async def sub_agents(partner_id: uuid.UUID, engine: DbEngine, _: OperatorUser,
                     status: Literal["active", "suspended"] | None = Query(None),
                     limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict:
    await admin_action(partners_admin.get_partner, engine, partner_id)  # 404 for an unknown partner
    return await admin_action(partners_admin.list_partners, engine, parent_id=partner_id, status=status, limit=limit,
                       offset=offset)


@router.patch("/partners/{partner_id}", summary="Change tier, credit limit (and currency), commission or name")
async def update_partner(partner_id: uuid.UUID, body: PartnerChange, request: Request, engine: DbEngine,
                         principal: OperatorUser) -> dict:
    partner = await admin_action(partners_admin.update, engine, api_actor(principal), partner_id, tier=body.tier,
                          credit_limit=body.credit_limit, currency=body.currency,
                          commission_pct=body.commission_pct, name=body.name, note=body.note)
    access_changed(request)
    return partner


@router.post("/partners/{partner_id}/suspend", summary="Suspend: its tokens and credentials (and its sub-agents') "
                                                       "get 403 partner_suspended at once")
async def suspend(partner_id: uuid.UUID, request: Request, engine: DbEngine, principal: OperatorUser,
                  body: Note | None = None) -> dict:
    partner = await admin_action(partners_admin.suspend, engine, api_actor(principal), partner_id,
                                 (body or Note()).note)
    access_changed(request)
    return partner


@router.post("/partners/{partner_id}/reactivate", summary="Reactivate a suspended partner")
async def reactivate(partner_id: uuid.UUID, request: Request, engine: DbEngine, principal: OperatorUser,
                     body: Note | None = None) -> dict:
    partner = await admin_action(partners_admin.reactivate, engine, api_actor(principal), partner_id,
                          (body or Note()).note)
    access_changed(request)
    return partner


@router.post("/partners/{partner_id}/credentials", status_code=201,
             summary="Another credential for the partner (the secret is shown once)")
async def add_credential(partner_id: uuid.UUID, engine: DbEngine, principal: OperatorUser,
                         body: Note | None = None) -> dict:
    credentials = await admin_action(partners_admin.add_credential, engine, api_actor(principal), partner_id,
                              (body or Note()).note)
    return _credentials(credentials)


@router.post("/credentials/{client_id}/rotate",
             summary="A new secret (shown once); the old secret and every token issued with it stop working")
async def rotate(client_id: str, request: Request, engine: DbEngine, principal: OperatorUser,
                 body: Note | None = None) -> dict:
    credentials = await admin_action(partners_admin.rotate_credential, engine, api_actor(principal), client_id,
                              (body or Note()).note)
    access_changed(request)
    return _credentials(credentials)


@router.post("/credentials/{client_id}/revoke",
             summary="Revoke: the secret and every token issued with it stop working at once")
async def revoke(client_id: str, request: Request, engine: DbEngine, principal: OperatorUser,
                 body: Note | None = None) -> dict:
    credential = await admin_action(partners_admin.revoke_credential, engine, api_actor(principal), client_id,
                             (body or Note()).note)
    access_changed(request)
    return credential
