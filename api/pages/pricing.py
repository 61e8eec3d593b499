"""The operators' pricing page under /pricing: active rules, adding and retiring one, a rule's history,
and the newest exchange rates. A login form sets an HttpOnly cookie (path /pricing) holding an operator
token; every form carries a CSRF value derived from it. Changes go through `core.pricing_rules`, as the
JSON API's do (validated, versioned with the operator's client id).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.auth import Principal, authenticate_client, decode_token, issue_token
from core import pricing_rules as pr
from core.db import engine_for
from core.pricing_preview import latest_rates

router = APIRouter(include_in_schema=False)
COOKIE = "pricing_session"
templates = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates" / "pricing"),
                        autoescape=select_autoescape(["html"]))


def _engine(request: Request):
    return engine_for(request.app.state.endpoints.database_url)


def _csrf(request: Request, token: str) -> str:
    secret = request.app.state.settings.jwt_secret.get_secret_value().encode()
    return hmac.new(secret, b"pricing-csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def _session(request: Request) -> tuple[Principal, str] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal, _ = decode_token(request.app.state.settings, token)
    except HTTPException:
        return None
    return (principal, token) if principal.role == "operator" else None


async def _posted(request: Request, limit: int = 16 * 1024) -> dict[str, str]:
    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, detail={"code": "payload_too_large", "message": f"form larger than {limit} bytes"})
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _render(name: str, status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


async def _rules_page(request: Request, error: str | None = None, status: int = 200, form: dict | None = None):
    principal, token = _session(request)
    engine = _engine(request)
    rules = await asyncio.to_thread(pr.list_rules, engine)
    rates = await asyncio.to_thread(latest_rates, engine)
    return _render("rules.html", status, rules=rules, rates=rates, principal=principal, csrf=_csrf(request, token),
                   error=error, form=form or {}, fields=pr.FIELDS)


@router.get("/pricing")
async def rules_page(request: Request) -> Response:
    if _session(request) is None:
        return _render("login.html")
    return await _rules_page(request)


@router.post("/pricing/login")
async def login(request: Request) -> Response:
    form = await _posted(request)
    client_id, secret = form.get("client_id", "").strip(), form.get("client_secret", "")
    if not client_id or not secret:
        return _render("login.html", 422, message="Enter the client id and the secret.")
    try:
        principal = await authenticate_client(request.app.state.pg, client_id, secret)
    except HTTPException:
        return _render("login.html", 401, message="Those credentials are not valid.")
    if principal.role != "operator":
        return _render("login.html", 403, message="This page is for the operator role only.")
    token, expires_in = issue_token(request.app.state.settings, principal)
    response = RedirectResponse("/pricing", status_code=303)
    response.set_cookie(COOKIE, token, max_age=expires_in, httponly=True, samesite="strict", path="/pricing",
                        secure=request.url.scheme == "https")
    return response


async def _checked(request: Request) -> tuple[Principal, dict[str, str]]:
    form = await _posted(request)
    session = _session(request)
    if session is None:
        raise HTTPException(401, detail={"code": "unauthorized", "message": "sign in as an operator first"})
    if not hmac.compare_digest(form.pop("csrf", ""), _csrf(request, session[1])):
        raise HTTPException(403, detail={"code": "forbidden", "message": "stale form: reload the page"})
    return session[0], form


@router.post("/pricing/rules")
async def add_rule(request: Request) -> Response:
    principal, form = await _checked(request)
    values = {name: value.strip() for name, value in form.items() if name in pr.FIELDS and value.strip()}
    try:
        await asyncio.to_thread(pr.create_rule, _engine(request), values, principal.client_id,
                                request.app.state.settings.default_currency)
    except pr.RuleError as error:
        return await _rules_page(request, f"{error.field}: {error.reason}", error.status, form)
    return RedirectResponse("/pricing", status_code=303)


@router.post("/pricing/rules/{rule_id}/retire")
async def retire_rule(rule_id: int, request: Request) -> Response:
    principal, _ = await _checked(request)
    try:
        await asyncio.to_thread(pr.retire_rule, _engine(request), rule_id, principal.client_id)
    except pr.RuleError as error:
        return await _rules_page(request, f"{error.field}: {error.reason}", error.status)
    return RedirectResponse("/pricing", status_code=303)


@router.get("/pricing/rules/{rule_id}")
async def rule_page(rule_id: int, request: Request) -> Response:
    if _session(request) is None:
        return _render("login.html")
    engine = _engine(request)
    try:
        rule = await asyncio.to_thread(pr.get_rule, engine, rule_id)
    except pr.RuleError as error:
        return _render("rule.html", error.status, rule=None, versions=[], message=error.reason)
    return _render("rule.html", rule=rule, versions=await asyncio.to_thread(pr.rule_history, engine, rule_id))

