"""Operator API for the config center and feature flags (role `operator`).

v1 (`/v1/admin/...`): list / get / set config keys and flags. Every read says both what is stored
in PostgreSQL and what this API process serves right now from its config-center cache (`live`),
so an operator sees a change arrive. v2 (`/v2/admin/...`) is the console's newer shape (a
`data` + `meta` envelope, camelCase, live evaluation and cache freshness inline); it answers only
while the flag `admin.v2` is on for the calling operator (rollout and whitelist by client id).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, actor, require_role
from core import config as cfg
from core.db import engine_for

router = APIRouter(tags=["admin"])
operator = require_role("operator")
ADMIN_V2 = "admin.v2"


class ConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = Field(..., description="Any JSON value")
    env: str | None = Field(None, min_length=1, max_length=20, description="Defaults to this API's HOTEL_ENV")
    description: str | None = Field(None, max_length=2000)


class FlagChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    rollout_pct: int | None = Field(None, ge=0, le=100)
    whitelist: list[str] | None = Field(None, max_length=10_000)
    description: str | None = Field(None, max_length=2000)


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


def _bad(error: cfg.ConfigError) -> HTTPException:
    status = 404 if error.field == "name" and error.message.startswith("unknown flag") else 422
    return HTTPException(status, detail={"code": "not_found" if status == 404 else "validation_error",
                                         "message": str(error), "fields": [{"field": error.field,
                                                                            "reason": error.message}]})


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _config_row(row: dict, center) -> dict:
    return {**row, "updated_at": _iso(row.get("updated_at")), "live": center.get(row["key"])}


def _flag_row(row: dict, center, tenant_id: str | None = None) -> dict:
    live = center.flag(row["name"])
    out = {**row, "updated_at": _iso(row.get("updated_at")),
           "live": None if live is None else {"enabled": live.enabled, "rollout_pct": live.rollout_pct,
                                              "whitelist": list(live.whitelist)}}
    if tenant_id is not None:
        out["live_on_for_tenant"] = center.flag_on(row["name"], tenant_id)
    return out


# --- v1 --------------------------------------------------------------------------------------------

@router.get("/v1/admin/config", summary="Every stored config key (one env or all)")
async def list_config(request: Request, env: str | None = Query(None, max_length=20),
                      _: Principal = Depends(operator)) -> dict:
    try:
        rows = await asyncio.to_thread(cfg.list_config, _engine(request), env)
    except cfg.ConfigError as error:
        raise _bad(error) from None
    center = request.app.state.config
    return {"env": center.env, "items": [_config_row(row, center) for row in rows]}


@router.get("/v1/admin/config/{key}", summary="One config key: stored rows per env and the live value")
async def get_config(key: str, request: Request, _: Principal = Depends(operator)) -> dict:
    rows = [row for row in await asyncio.to_thread(cfg.list_config, _engine(request)) if row["key"] == key]
    center = request.app.state.config
    if not rows:
        raise HTTPException(404, detail={"code": "not_found", "message": f"no config key {key!r}"})
    return {"key": key, "env": center.env, "live": center.get(key),
            "stored": [{**row, "updated_at": _iso(row["updated_at"])} for row in rows]}


@router.put("/v1/admin/config/{key}", summary="Set a config key (every running client reloads it)")
async def set_config(key: str, change: ConfigChange, request: Request,
                     principal: Principal = Depends(operator)) -> dict:
    env = change.env or request.app.state.config.env
    try:
        row = await asyncio.to_thread(cfg.set_config, _engine(request), key, change.value, env,
                                      change.description, principal.client_id, actor=actor(principal))
    except cfg.ConfigError as error:
        raise _bad(error) from None
    return {**row, "updated_at": _iso(row["updated_at"])}


@router.delete("/v1/admin/config/{key}", summary="Delete a config key for one env")
async def delete_config(key: str, request: Request, env: str | None = Query(None, max_length=20),
                        principal: Principal = Depends(operator)) -> dict:
    env = env or request.app.state.config.env
    try:
        deleted = await asyncio.to_thread(cfg.delete_config, _engine(request), key, env, actor(principal))
    except cfg.ConfigError as error:
        raise _bad(error) from None
    if not deleted:
        raise HTTPException(404, detail={"code": "not_found", "message": f"no config key {key!r} in env {env!r}"})
    return {"key": key, "env": env, "deleted": True}


@router.get("/v1/admin/flags", summary="Every feature flag")
async def list_flags(request: Request, _: Principal = Depends(operator)) -> dict:
    rows = await asyncio.to_thread(cfg.list_flags, _engine(request))
    return {"items": [_flag_row(row, request.app.state.config) for row in rows]}


@router.get("/v1/admin/flags/{name}", summary="One flag; with tenant_id, whether it is on for that tenant now")
async def get_flag(name: str, request: Request, tenant_id: str | None = Query(None, max_length=200),
                   _: Principal = Depends(operator)) -> dict:
    rows = [row for row in await asyncio.to_thread(cfg.list_flags, _engine(request)) if row["name"] == name]
    if not rows:
        raise HTTPException(404, detail={"code": "not_found", "message": f"unknown flag {name!r}"})
    return _flag_row(rows[0], request.app.state.config, tenant_id)


@router.put("/v1/admin/flags/{name}", summary="Change a flag: enabled, rollout_pct, whitelist, description")
async def set_flag(name: str, change: FlagChange, request: Request,
                   principal: Principal = Depends(operator)) -> dict:
    try:
        row = await asyncio.to_thread(cfg.set_flag, _engine(request), name, change.enabled, change.rollout_pct,
                                      change.whitelist, change.description, actor=actor(principal))
    except cfg.ConfigError as error:
        raise _bad(error) from None
    return _flag_row(row, request.app.state.config)


# --- v2 (behind the admin.v2 flag) -----------------------------------------------------------------

def admin_v2(request: Request, principal: Principal = Depends(operator)) -> Principal:
    if not request.app.state.config.flag_on(ADMIN_V2, principal.client_id):
        raise HTTPException(404, detail={"code": "feature_disabled",
                                         "message": f"the v2 admin API is off for this operator (flag {ADMIN_V2})"})
    return principal


def _meta(center, count: int) -> dict:
    return {"count": count, "env": center.env, "configCenter": {
        "lastLoadedAt": center.last_loaded_at, "pollIntervalS": center.poll_interval_s,
        "listening": center.listen, **{_camel(k): v for k, v in center.stats.items()}}}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@router.get("/v2/admin/flags", summary="v2: flags with live state and evaluation for a tenant")
async def list_flags_v2(request: Request, tenant_id: str | None = Query(None, max_length=200),
                        _: Principal = Depends(admin_v2)) -> dict:
    center = request.app.state.config
    rows = await asyncio.to_thread(cfg.list_flags, _engine(request))
    data = []
    for row in rows:
        live = center.flag(row["name"])
        data.append({
            "name": row["name"], "enabled": row["enabled"], "rolloutPct": row["rollout_pct"],
            "whitelist": row["whitelist"], "description": row["description"], "updatedAt": _iso(row["updated_at"]),
            "live": None if live is None else {"enabled": live.enabled, "rolloutPct": live.rollout_pct,
                                               "inSync": (live.enabled, live.rollout_pct, list(live.whitelist))
                                               == (row["enabled"], row["rollout_pct"], row["whitelist"])},
            **({"onForTenant": center.flag_on(row["name"], tenant_id)} if tenant_id is not None else {}),
        })
    return {"data": data, "meta": _meta(center, len(data))}


@router.get("/v2/admin/config", summary="v2: config keys with live values and freshness")
async def list_config_v2(request: Request, env: str | None = Query(None, max_length=20),
                         _: Principal = Depends(admin_v2)) -> dict:
    center = request.app.state.config
    try:
        rows = await asyncio.to_thread(cfg.list_config, _engine(request), env)
    except cfg.ConfigError as error:
        raise _bad(error) from None
    data = [{"key": row["key"], "env": row["env"], "value": row["value"], "description": row["description"],
             "updatedAt": _iso(row["updated_at"]), "updatedBy": row["updated_by"], "live": center.get(row["key"])}
            for row in rows]
    return {"data": data, "meta": _meta(center, len(data))}
