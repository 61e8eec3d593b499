"""The console's home page /console: sign-in for every staff role, then the areas the signed-in role may use
(operators: orders, review queue, partners, suppliers, mappings, settings, pricing; finance: settlements, billing;
everyone: reports and the audit log), with how many orders wait for review."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.pages import console_kit as kit
from api.pages.common import engine
from api.pages.console import area, nav_for
from core.orders import search

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def home(request: Request) -> Response:
    session = await area.session(request)
    if session is None:
        return await area.login_page(request, next_url="/console")
    waiting = None
    if session.principal.role in kit.OPERATOR_ROLES:
        queue = await kit.run(search.review_queue, engine(request), limit=search.MAX_LIMIT)
        waiting = f"{len(queue['items'])}{'+' if queue['next_cursor'] else ''}"
    return await kit.page(request, "home.html", links=nav_for(session.principal.role)[1:], waiting=waiting)
