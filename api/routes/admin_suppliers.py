"""Operator API for suppliers (role `operator`), over `core/suppliers/admin.py`.

GET  /v1/admin/suppliers                        every supplier with health (breaker, last good syncs, quarantine)
GET  /v1/admin/suppliers/{code}                 one supplier
POST /v1/admin/suppliers/{code}/enable|disable  {"note": "..."}: a disabled supplier is neither synced nor quoted
PUT  /v1/admin/suppliers/{code}/api-key         {"api_key": "...", "note": "..."}: stored encrypted
GET  /v1/admin/suppliers/{code}/sync-runs       feed, status; limit/offset
GET  /v1/admin/suppliers/{code}/quarantine      feed, run_id, reason; limit/offset
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import DbEngine, OperatorUser, admin_action, api_actor
from core.quotes.caches import caches_for
from core.suppliers import admin

router = APIRouter(prefix="/v1/admin/suppliers", tags=["admin: suppliers"])
Feed = Literal["content", "inventory"]


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000, description="Why (kept in the audit log)")


class ApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: str = Field(..., min_length=8, max_length=500, description="The supplier's new API key")
    note: str = Field("", max_length=2000)


def _suppliers_changed(request: Request) -> None:
    """This process's next quote already leaves a disabled supplier out; the others on PostgreSQL's notification."""
    caches = caches_for(request.app.state)
    caches.suppliers_stale = True
    caches.suppliers_version += 1


@router.get("", summary="Every supplier with its health")
async def list_suppliers(engine: DbEngine, _: OperatorUser, enabled: bool | None = Query(None)) -> dict:
    return await admin_action(admin.list_suppliers, engine, enabled=enabled)


@router.get("/{code}", summary="One supplier with its health")
async def get_supplier(code: str, engine: DbEngine, _: OperatorUser) -> dict:
    return await admin_action(admin.get_supplier, engine, code)


@router.post("/{code}/enable", summary="Enable: synced and quoted again")
async def enable(code: str, request: Request, engine: DbEngine, principal: OperatorUser,
                 body: Note | None = None) -> dict:
    supplier = await admin_action(admin.set_enabled, engine, api_actor(principal), code, True, (body or Note()).note)
    _suppliers_changed(request)
    return supplier


@router.post("/{code}/disable", summary="Disable: its offers leave the next quote; no sync runs for it")
async def disable(code: str, request: Request, engine: DbEngine, principal: OperatorUser,
                  body: Note | None = None) -> dict:
    supplier = await admin_action(admin.set_enabled, engine, api_actor(principal), code, False, (body or Note()).note)
    _suppliers_changed(request)
    return supplier


@router.put("/{code}/api-key", summary="Rotate the supplier's API key (stored encrypted with ENCRYPTION_SECRET)")
async def rotate_key(code: str, body: ApiKey, request: Request, engine: DbEngine, principal: OperatorUser) -> dict:
    secret = request.app.state.settings.encryption_secret.get_secret_value()
    supplier = await admin_action(admin.rotate_key, engine, api_actor(principal), code, body.api_key, secret, body.note)
    _suppliers_changed(request)
    return supplier


@router.get("/{code}/sync-runs", summary="The supplier's sync runs, newest first")
async def sync_runs(code: str, engine: DbEngine, _: OperatorUser, feed: Feed | None = Query(None),
                    status: Literal["ok", "partial", "failed", "contract_failed"] | None = Query(None),
                    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict:
    await admin_action(admin.get_supplier, engine, code)
    return await admin_action(admin.sync_runs, engine, code, feed=feed, status=status, limit=limit, offset=offset)


@router.get("/{code}/quarantine", summary="The supplier's quarantined records with their reasons, newest first")
async def quarantine(code: str, engine: DbEngine, _: OperatorUser, feed: Feed | None = Query(None),
                     run_id: str | None = Query(None, max_length=200),
                     reason: str | None = Query(None, max_length=200, description="Reason contains"),
                     limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict:
    await admin_action(admin.get_supplier, engine, code)
    return await admin_action(admin.quarantined, engine, code, feed=feed, run_id=run_id, reason=reason, limit=limit,
                       offset=offset)
