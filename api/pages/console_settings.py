"""Console pages for configuration and feature flags (operators), over what /v1/admin/config and /v1/admin/flags
call (`core.config`, with its validation): every stored key per env with the value this API process serves now,
setting a key (a JSON value), deleting one env's row of a key, and changing a flag (on/off, rollout %,
whitelist). Each change is confirmed and audited with source "console"; every running client reloads it on
PostgreSQL's notification."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.pages import console_kit as kit
from api.pages.common import engine
from core import config as cfg

PAGE_SIZE = 50
CONFIG_FIELDS = (kit.Field("value", "Value (JSON: 42, \"text\", true, {\"a\": 1})", required=True, kind="textarea"),
                 kit.Field("env", "Env"), kit.Field("description", "Description"))
FLAG_FIELDS = (kit.Field("enabled", "Enabled", kind="select", options=("", "on", "off")),
               kit.Field("rollout_pct", "Rollout % (0-100)"),
               kit.Field("whitelist", "Whitelist (tenant ids, comma separated; blank keeps it)"),
               kit.Field("description", "Description"))
router = APIRouter(include_in_schema=False)


@router.get("/console/settings")
async def settings_page(request: Request) -> Response:
    if (gate := await kit.operator_gate(request)) is not None:
        return gate
    params, db, center = request.query_params, engine(request), request.app.state.config
    env, key = (params.get("env") or "").strip() or None, (params.get("key") or "").strip().lower()
    errors = []
    try:
        rows = await kit.run(cfg.list_config, db, env)
    except cfg.ConfigError as error:
        errors.append(str(error))
        rows = []
    rows = [row for row in rows if key in row["key"].lower()]
    page = kit.page_number(params.get("page"))
    shown = rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    flags = await kit.run(cfg.list_flags, db)
    keep = {k: v for k, v in (("env", env), ("key", key)) if v}
    return await kit.page(
        request, "settings.html", rows=[{**row, "live": center.get(row["key"]), "json": json.dumps(row["value"])}
                                        for row in shown],
        flags=[{**flag, "live": center.flag(flag["name"])} for flag in flags], errors=errors, filters=keep,
        live_env=center.env, page=page, total=len(rows),
        previous_url=f"?{urlencode({**keep, 'page': page - 1})}" if page > 1 else None,
        next_url=f"?{urlencode({**keep, 'page': page + 1})}" if page * PAGE_SIZE < len(rows) else None)


@router.get("/console/settings/config/{key}")
async def confirm_config(key: str, request: Request) -> Response:
    preset = {"env": request.query_params.get("env") or request.app.state.config.env,
              "value": request.query_params.get("value", "")}
    return await kit.confirm(request, title=f"Set {key}", what="Every running API process reloads it at once.",
                             button="Set value", fields=CONFIG_FIELDS, action=f"/console/settings/config/{key}",
                             back="/console/settings", form=preset)


@router.post("/console/settings/config/{key}")
async def set_config(key: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    env = (form.get("env") or "").strip() or request.app.state.config.env
    try:
        try:
            value = json.loads(form.get("value", ""))
        except ValueError as error:
            raise cfg.ConfigError("value", f"must be JSON: {error}") from None
        await kit.run(cfg.set_config, engine(request), key, value, env, (form.get("description") or None),
                      principal.client_id, actor=kit.console_actor(principal))
    except cfg.ConfigError as error:
        return await kit.confirm(request, title=f"Set {key}", what="Fix the field below.", button="Set value",
                                 fields=CONFIG_FIELDS, action=f"/console/settings/config/{key}",
                                 back="/console/settings", error=str(error), status_code=422, form=form)
    return kit.done(request, "/console/settings", f"{key} ({env}) set to {json.dumps(value)[:100]}.")


@router.get("/console/settings/flags/{name}")
async def confirm_flag(name: str, request: Request) -> Response:
    return await kit.confirm(request, title=f"Change flag {name}", what="Only the fields you fill in change.",
                             button="Change flag", fields=FLAG_FIELDS, action=f"/console/settings/flags/{name}",
                             back="/console/settings")


@router.post("/console/settings/flags/{name}")
async def set_flag(name: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    enabled = {"on": True, "off": False}.get(form.get("enabled", ""))
    whitelist_text = (form.get("whitelist") or "").strip()
    whitelist = [item.strip() for item in whitelist_text.split(",") if item.strip()] if whitelist_text else None
    try:
        pct_text = (form.get("rollout_pct") or "").strip()
        if pct_text and not pct_text.isdigit():
            raise cfg.ConfigError("rollout_pct", "must be between 0 and 100")
        await kit.run(cfg.set_flag, engine(request), name, enabled, int(pct_text) if pct_text else None, whitelist,
                      (form.get("description") or None), actor=kit.console_actor(principal))
    except cfg.ConfigError as error:
        return await kit.confirm(request, title=f"Change flag {name}", what="Fix the field below.",
                                 button="Change flag", fields=FLAG_FIELDS, action=f"/console/settings/flags/{name}",
                                 back="/console/settings", error=str(error),
                                 status_code=404 if error.message.startswith("unknown flag") else 422, form=form)
    return kit.done(request, "/console/settings", f"Flag {name} changed.")


@router.get("/console/settings/config/{key}/delete")
async def confirm_delete_config(key: str, request: Request) -> Response:
    preset = {"env": request.query_params.get("env") or request.app.state.config.env}
    return await kit.confirm(request, title=f"Delete {key}", what="Deletes the key's row for this env; every running"
                             " API process then serves its default (or the production row).", button="Delete key",
                             fields=(kit.Field("env", "Env", required=True),),
                             action=f"/console/settings/config/{key}/delete", back="/console/settings", form=preset)


@router.post("/console/settings/config/{key}/delete")
async def delete_config(key: str, request: Request) -> Response:
    principal, form = await kit.operator_form(request)
    env = (form.get("env") or "").strip() or request.app.state.config.env
    try:
        deleted = await kit.run(cfg.delete_config, engine(request), key, env, kit.console_actor(principal))
        if not deleted:
            raise cfg.ConfigError("env", f"{key} is not set in env {env!r}")
    except cfg.ConfigError as error:
        return await kit.confirm(request, title=f"Delete {key}", what="Fix the field below.", button="Delete key",
                                 fields=(kit.Field("env", "Env", required=True),),
                                 action=f"/console/settings/config/{key}/delete", back="/console/settings",
                                 error=str(error), status_code=404 if error.field == "env" else 422, form=form)
    return kit.done(request, "/console/settings", f"{key} ({env}) deleted.")
