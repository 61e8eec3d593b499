"""Dependencies as Annotated aliases, declared once: routes write `principal: OperatorUser`, `engine: DbEngine`.

Each role alias wraps the same single `BearerAuth` dependency (api/auth.py), so a route gains no dependency level.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.engine import Engine

from api.auth import Principal, require_role
from api.limits import limited_partner
from core import audit
from core.admin_errors import AdminError
from core.db import engine_for


def db_engine(request: Request) -> Engine:
    """The operational database (SQLAlchemy, for core functions run in a thread)."""
    return engine_for(request.app.state.endpoints.database_url)


OperatorUser = Annotated[Principal, Depends(require_role("operator"))]
FinanceUser = Annotated[Principal, Depends(require_role("finance"))]
PartnerCaller = Annotated[Principal, Depends(limited_partner)]
DbEngine = Annotated[Engine, Depends(db_engine)]


def api_actor(principal: Principal) -> audit.Actor:
    """The audit log's actor for a staff member calling the JSON API."""
    return audit.Actor(principal.client_id, principal.role, "api")


def admin_error(error: AdminError) -> HTTPException:
    """An operator action's refusal as the API's JSON error (the field and the reason for a validation error)."""
    return HTTPException(error.status, detail=error.body())


async def admin_action(function, *args, **kwargs):
    """Run a (synchronous, SQLAlchemy) core operator function in a thread; its AdminError becomes the 4xx."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except AdminError as error:
        raise admin_error(error) from None
