"""The operators' pricing page under /pricing: active rules, adding and retiring one, a rule's history,
and the newest exchange rates. Changes go through `core.pricing_rules`, as the JSON API's do (validated,
versioned with the operator's name).
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.pages.common import Area, engine
from core import pricing_rules as pr
from core.pricing_preview import latest_rates

area = Area(name="pricing", prefix="/pricing", cookie="pricing_session", roles=("operator",), title="Pricing rules",
            audience="For operators.", refusal="This page is for the operator role only.",
            nav=(("/pricing", "Pricing rules"),))
router = area.routes()


async def _rules_page(request: Request, error: str | None = None, status: int = 200, form: dict | None = None):
    db = engine(request)
    rules = await asyncio.to_thread(pr.list_rules, db)
    rates = await asyncio.to_thread(latest_rates, db)
    return area.page(request, "rules.html", status, rules=rules, rates=rates, error=error, form=form or {},
                     fields=pr.FIELDS)


@router.get("/pricing")
async def rules_page(request: Request) -> Response:
    if area.session(request) is None:
        return area.login_page()
    return await _rules_page(request)


@router.post("/pricing/rules")
async def add_rule(request: Request) -> Response:
    principal, form = await area.checked_form(request)
    values = {name: value.strip() for name, value in form.items() if name in pr.FIELDS and value.strip()}
    try:
        await asyncio.to_thread(pr.create_rule, engine(request), values, principal.client_id,
                                request.app.state.settings.default_currency)
    except pr.RuleError as error:
        return await _rules_page(request, f"{error.field}: {error.reason}", error.status, form)
    return RedirectResponse("/pricing", status_code=303)


@router.post("/pricing/rules/{rule_id}/retire")
async def retire_rule(rule_id: int, request: Request) -> Response:
    principal, _ = await area.checked_form(request)
    try:
        await asyncio.to_thread(pr.retire_rule, engine(request), rule_id, principal.client_id)
    except pr.RuleError as error:
        return await _rules_page(request, f"{error.field}: {error.reason}", error.status)
    return RedirectResponse("/pricing", status_code=303)


@router.get("/pricing/rules/{rule_id}")
async def rule_page(rule_id: int, request: Request) -> Response:
    if area.session(request) is None:
        return area.login_page()
    db = engine(request)
    try:
        rule = await asyncio.to_thread(pr.get_rule, db, rule_id)
    except pr.RuleError as error:
        return area.page(request, "rule.html", error.status, rule=None, versions=[], message=error.reason)
    return area.page(request, "rule.html", rule=rule, versions=await asyncio.to_thread(pr.rule_history, db, rule_id))
